"""Request validation compiled once from an OpenAPI document.

One class, :class:`DocumentValidator`, compiles every operation's request body and
parameters from a dereferenced document: the predictions API's (``openapi.yaml``)
and the admin API's (``admin.yaml``) alike. Validators are built at start-up; a request costs
only the schema check itself. Errors come back as :class:`InvalidField` items
worded the way Replicate words them.

Each schema is compiled twice: by ``jsonschema_rs`` (Rust, under a microsecond for
a create body), which only says whether an instance is valid, and by ``jsonschema``,
which explains why one is not. The quick check runs first and the explanation only
for what it rejects, so a valid request never pays for the slow one. Both use the
same format checks (``jsonschema``'s own, handed to the Rust validator), and a
property test holds them to the same verdicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from mock_server.contract.problems import InvalidField

__all__ = ["CompiledSchema", "DocumentValidator", "Operation", "Parameter", "describe_errors"]

_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    type(None): "null",
    list: "array",
    dict: "object",
}


class CompiledSchema:
    """A schema compiled for a quick verdict and, when that is "invalid", the reasons."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        """Raises: jsonschema.SchemaError: if ``schema`` is not a valid 2020-12 schema."""
        Draft202012Validator.check_schema(schema)
        formats = FormatChecker()
        self.explaining = Draft202012Validator(schema, format_checker=formats)
        self.quick = jsonschema_rs.Draft202012Validator(
            dict(schema),
            validate_formats=True,
            formats={name: _conforming(formats, name) for name in formats.checkers},
        )

    def errors(self, instance: Any) -> Iterable[ValidationError]:
        """Why ``instance`` is invalid; nothing when it is valid."""
        try:
            if self.quick.is_valid(instance):
                return ()
        except ValueError:  # a value the Rust side cannot take: let jsonschema judge it
            pass
        return self.explaining.iter_errors(instance)


def _conforming(formats: FormatChecker, name: str) -> Any:
    return lambda value: formats.conforms(value, name)


#: The keys of a path item that are operations.
_METHODS: Final = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of an operation, its schema compiled."""

    name: str
    location: str
    """``query``, ``header``, ``path`` or ``cookie``."""
    required: bool
    schema: CompiledSchema
    doc: Mapping[str, Any]
    """The parameter's schema as the document writes it (for what code reads from it)."""

    def errors(self, value: Any) -> list[InvalidField]:
        """Problems with ``value``, the parameter's name as the field; empty when it is valid."""
        return describe_errors(self.schema.errors(value), root=self.name)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is valid (the quick check alone when it is)."""
        return not any(True for _ in self.schema.errors(value))


@dataclass(frozen=True, slots=True)
class Operation:
    """The request checks of one operation: its JSON body and its parameters."""

    operation_id: str
    method: str
    """Upper case: ``GET``, ``POST``..."""
    path: str
    body: CompiledSchema | None
    """The ``application/json`` request body's schema; None when it takes none."""
    parameters: tuple[Parameter, ...]

    def parameter(self, location: str, name: str) -> Parameter:
        """The parameter ``name`` in ``location``.

        Raises:
            KeyError: if the operation has no such parameter.
        """
        for param in self.parameters:
            if param.location == location and param.name == name:
                return param
        raise KeyError(f"{self.operation_id} has no {location} parameter {name!r}")

    def body_errors(self, body: Any) -> list[InvalidField]:
        """Problems with a request body, sorted by field; empty when it is valid."""
        return [] if self.body is None else describe_errors(self.body.errors(body))

    def parameter_errors(self, location: str, values: Mapping[str, str]) -> list[InvalidField]:
        """Problems with the ``location`` parameters found in ``values`` (for headers, a
        mapping that finds names whatever their case), in the document's order."""
        errors: list[InvalidField] = []
        for param in self.parameters:
            if param.location != location:
                continue
            value = values.get(param.name)
            if value is None:
                if param.required:
                    errors.append(InvalidField("required", param.name, f"{param.name} is required"))
            else:
                errors += param.errors(value)
        return errors


class DocumentValidator:
    """Every operation's request checks, compiled once from a dereferenced OpenAPI document.

    The same class serves the predictions API (``openapi.yaml``) and the admin API
    (``admin.yaml``); handlers look their operation up by ``operationId``.
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        """Raises: jsonschema.SchemaError: if a schema in ``spec`` is not a valid 2020-12 schema."""
        self._by_id: dict[str, Operation] = {}
        self._by_route: dict[tuple[str, str], Operation] = {}
        for path, item in spec.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method not in _METHODS:
                    continue
                operation = _operation(path, method.upper(), op, shared)
                self._by_id[operation.operation_id] = operation
                self._by_route[(path, operation.method)] = operation

    def operation(self, operation_id: str) -> Operation:
        """The operation with this ``operationId``.

        Raises:
            KeyError: if the document has none.
        """
        return self._by_id[operation_id]

    def route(self, path: str, method: str) -> Operation:
        """The operation at ``path`` (as the document writes it) for ``method``.

        Raises:
            KeyError: if the document has none.
        """
        return self._by_route[(path, method.upper())]

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._by_id.values())


def _operation(
    path: str, method: str, op: Mapping[str, Any], shared: list[Mapping[str, Any]]
) -> Operation:
    declared = {(p["in"], p["name"]): p for p in [*shared, *op.get("parameters", [])]}
    parameters = tuple(
        Parameter(
            p["name"], p["in"], bool(p.get("required")), CompiledSchema(p["schema"]), p["schema"]
        )
        for p in declared.values()
        if "schema" in p
    )
    content = op.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return Operation(
        op.get("operationId") or f"{method} {path}",
        method,
        path,
        None if schema is None else CompiledSchema(schema),
        parameters,
    )


def describe_errors(errors: Iterable[ValidationError], root: str = "") -> list[InvalidField]:
    """Turn jsonschema errors into Replicate's ``invalid_fields``, sorted by field, a
    field's ``required`` problems first (as Replicate lists them); ``root`` names the
    value checked (the empty string: the body, which Replicate writes as ``""``)."""
    found: dict[tuple[str, str, str], InvalidField] = {}
    for error in errors:
        for item in _describe(error, root):
            found.setdefault((item.field, item.type, item.description), item)
    return sorted(
        found.values(),
        key=lambda item: (item.field, item.type != "required", item.type, item.description),
    )


def _field(path: Iterable[Any], root: str) -> str:
    parts = [str(part) for part in path]
    if root:
        parts.insert(0, root)
    return ".".join(parts)


def _describe(error: ValidationError, root: str) -> list[InvalidField]:
    where = _field(error.absolute_path, root)
    name = next(
        (str(part) for part in reversed(error.absolute_path) if not isinstance(part, int)), where
    )
    kind = str(error.validator)
    instance = error.instance
    rule: Any = error.validator_value
    schema: Any = error.schema
    if kind == "required" and isinstance(instance, dict):
        return [
            InvalidField("required", where, f"{prop} is required")
            for prop in rule
            if prop not in instance
        ]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {})
        return [
            InvalidField(
                "additional_property_not_allowed",
                where,
                f"Additional property {extra} is not allowed",
            )
            for extra in instance
            if extra not in known
        ]
    if kind == "enum":
        choices = ", ".join(json.dumps(choice) for choice in rule)
        return [InvalidField("enum", where, f"{name} must be one of the following: {choices}")]
    if kind == "type":
        wanted = "/".join(rule) if isinstance(rule, list) else str(rule)
        given = _JSON_TYPES.get(type(instance), type(instance).__name__)
        return [
            InvalidField("invalid_type", where, f"Invalid type. Expected: {wanted}, given: {given}")
        ]
    if kind == "format":
        return [InvalidField("format", where, f"Does not match format '{rule}'")]
    if kind == "pattern":
        return [InvalidField("pattern", where, f"Does not match pattern '{rule}'")]
    if kind == "uniqueItems":
        return [InvalidField("unique", where, f"{name} items must be unique")]
    return [InvalidField(_snake(kind), where, error.message)]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
