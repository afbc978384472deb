"""Request validation compiled once from the spec.

Validators are built at start-up from the dereferenced spec; a request costs
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from mock_server.contract.problems import InvalidField

__all__ = ["CompiledSchema", "RequestValidator", "describe_errors"]

_CREATE_PATH = "/models/{model_owner}/{model_name}/predictions"
_LIST_PATH = "/predictions"
#: Shortest and longest ``Cancel-After`` the mock applies, in seconds.
MIN_CANCEL_AFTER = 5
MAX_CANCEL_AFTER = 10 * 365 * 24 * 3600
_DURATION_PART = re.compile(r"([0-9]+)([hms]?)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
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


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    schema: CompiledSchema


class RequestValidator:
    """The checks the spec asks of each operation, compiled from a dereferenced spec."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        create = spec["paths"][_CREATE_PATH]["post"]
        params = {p["name"]: p for p in create["parameters"]}
        self.model_owners: frozenset[str] = frozenset(params["model_owner"]["schema"]["enum"])
        self.model_names: frozenset[str] = frozenset(params["model_name"]["schema"]["enum"])
        self._prefer = re.compile(params["Prefer"]["schema"]["pattern"])
        self._cancel_after = re.compile(params["Cancel-After"]["schema"]["pattern"])
        body_schema = create["requestBody"]["content"]["application/json"]["schema"]
        self._create_body = CompiledSchema(body_schema)
        listing = spec["paths"][_LIST_PATH]["get"]
        self._list_params = tuple(
            _Param(p["name"], CompiledSchema(p["schema"])) for p in listing["parameters"]
        )

    def prefer_wait(self, header: str | None) -> tuple[float | None, list[InvalidField]]:
        """Seconds to hold the request for a ``Prefer`` header (None: no wait), or errors."""
        if header is None:
            return None, []
        value = header.strip()
        if not self._prefer.fullmatch(value):
            return None, [
                InvalidField(
                    "invalid_header",
                    "Prefer",
                    'Prefer must be "wait" or "wait=N" with N from 1 to 60',
                )
            ]
        _, _, seconds = value.partition("=")
        return float(seconds or 60), []

    def cancel_after(self, header: str | None) -> tuple[float | None, list[InvalidField]]:
        """Seconds from a ``Cancel-After`` header (None: no deadline), or errors.

        Durations are raised to :data:`MIN_CANCEL_AFTER` and capped at :data:`MAX_CANCEL_AFTER`.
        """
        if header is None:
            return None, []
        value = header.strip()
        if not self._cancel_after.fullmatch(value):
            return None, [
                InvalidField(
                    "invalid_header",
                    "Cancel-After",
                    "Cancel-After must be a number of seconds or a duration like 1h30m45s",
                )
            ]
        seconds = sum(
            int(amount) * _UNIT_SECONDS[unit or "s"]
            for amount, unit in _DURATION_PART.findall(value)
        )
        return float(min(max(seconds, MIN_CANCEL_AFTER), MAX_CANCEL_AFTER)), []

    def create_body(self, body: Any) -> list[InvalidField]:
        """Problems with a create request's body, empty when it is valid."""
        return describe_errors(self._create_body.errors(body))

    def list_query(self, query: Mapping[str, str]) -> list[InvalidField]:
        """Problems with a list request's query parameters."""
        errors: list[InvalidField] = []
        for param in self._list_params:
            if param.name in query:
                errors += describe_errors(param.schema.errors(query[param.name]), root=param.name)
        return errors


def describe_errors(errors: Iterable[ValidationError], root: str = "(root)") -> list[InvalidField]:
    """Turn jsonschema errors into Replicate's ``invalid_fields``, sorted by field."""
    found: dict[tuple[str, str, str], InvalidField] = {}
    for error in errors:
        for item in _describe(error, root):
            found.setdefault((item.field, item.type, item.description), item)
    return sorted(found.values(), key=lambda item: (item.field, item.type, item.description))


def _field(path: Iterable[Any], root: str) -> str:
    parts = [str(part) for part in path]
    if root != "(root)":
        parts.insert(0, root)
    return ".".join(parts) or root


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
