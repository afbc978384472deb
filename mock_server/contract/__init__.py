"""What the specs say, with no HTTP framework: the OpenAPI documents loaded and
dereferenced, the validators compiled from them, and every problem (error body) the
mock answers, kept as templates in one place."""

from mock_server.contract.predictions import RequestValidator
from mock_server.contract.problems import InvalidField, Problem
from mock_server.contract.spec import SpecNotFoundError, admin_spec_path, load_spec, spec_path
from mock_server.contract.validation import (
    CompiledSchema,
    DocumentValidator,
    Operation,
    Parameter,
    describe_errors,
)

__all__ = [
    "CompiledSchema",
    "DocumentValidator",
    "InvalidField",
    "Operation",
    "Parameter",
    "Problem",
    "RequestValidator",
    "SpecNotFoundError",
    "admin_spec_path",
    "describe_errors",
    "load_spec",
    "spec_path",
]
