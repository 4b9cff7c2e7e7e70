"""Strict mode of the emulator: every request to a service the platform calls is checked against
botocore's model of it, and against the documented cross-field rules in `CROSS_FIELD_RULES`, before
moto sees it. A violation is answered as AWS answers it: `ValidationException`, HTTP 400, naming the
member. moto itself accepts nearly anything, so without this a request AWS refuses passes every test
(docs/decisions/0010-emulator.md). Requests of the release workflow's `aws-sdk:` tasks are covered
too: moto's ASL interpreter sends them back to the server over HTTP (`MOTO_PORT`), with its own
client's validation switched off.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex  # type: ignore[import-untyped]
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator, ValidationErrors

# The services the platform calls, by their boto3 names.
STRICT_SERVICES = frozenset({"sagemaker", "stepfunctions", "events", "sqs", "sns", "secretsmanager", "s3"})

_MODEL_PACKAGE_VERSION_ARN = re.compile(r"^arn:[^:]+:sagemaker:[^:]*:\d*:model-package/[^/]+/\d+$")


@dataclass(frozen=True)
class CrossFieldRule:
    """A constraint of AWS's between members that no service model expresses."""

    service: str
    operation: str
    member: str
    check: Callable[[dict[str, Any]], bool]  # True when the request breaks the rule
    message: str
    documentation: str  # the AWS documentation's sentence the rule comes from


CROSS_FIELD_RULES: tuple[CrossFieldRule, ...] = (
    CrossFieldRule(
        service="sagemaker",
        operation="CreateModelPackage",
        member="Tags",
        check=lambda p: bool(p.get("Tags")) and bool(p.get("ModelPackageGroupName")),
        message="Tags cannot be supplied with ModelPackageGroupName: a versioned model package uses "
        "the tags of its model package group",
        documentation="CreateModelPackage, Tags: If you supply ModelPackageGroupName, your model package "
        "belongs to the model group you specify and uses the tags associated with the model group. In "
        "this case, you cannot supply a tag argument.",
    ),
    *(
        CrossFieldRule(
            service="sagemaker",
            operation=operation,
            member="ResourceArn",
            check=lambda p: bool(_MODEL_PACKAGE_VERSION_ARN.match(str(p.get("ResourceArn", "")))),
            message="Model package versions do not support tags; use CustomerMetadataProperties "
            "(UpdateModelPackage), or tag the model package group",
            documentation="Model Registry FAQ: Model packages in the SageMaker Model Registry do not "
            "support tags - these are versioned model packages. Instead, you can add key value pairs "
            "using CustomerMetadataProperties. Model package groups in the model registry support "
            "tagging.",
        )
        for operation in ("AddTags", "DeleteTags")
    ),
)


class StrictParamValidator(ParamValidator):  # type: ignore[misc]
    """botocore's validator checks types, required members and minimums only (it runs in every
    client, where the service checks the rest). A service also enforces maximums, enums and
    patterns, so they are added here."""

    def _validate_string(self, param: Any, shape: Shape, errors: ValidationErrors, name: str) -> None:
        super()._validate_string(param, shape, errors, name)
        if not isinstance(param, str):
            return
        _check_max(name, len(param), shape, "length", errors)
        if shape.enum and param not in shape.enum:
            errors.report(name, "enum", param=param, valid=shape.enum)
        pattern = shape.metadata.get("pattern")
        if pattern and not _full_match(pattern, param):
            errors.report(name, "pattern", param=param, pattern=pattern)

    def _validate_list(self, param: Any, shape: Shape, errors: ValidationErrors, name: str) -> None:
        super()._validate_list(param, shape, errors, name)
        if isinstance(param, (list, tuple)):
            _check_max(name, len(param), shape, "length", errors)

    def _validate_map(self, param: Any, shape: Shape, errors: ValidationErrors, name: str) -> None:
        super()._validate_map(param, shape, errors, name)
        if isinstance(param, dict):
            if "min" in shape.metadata and len(param) < shape.metadata["min"]:
                errors.report(name, "invalid length", param=len(param), min_allowed=shape.metadata["min"])
            _check_max(name, len(param), shape, "length", errors)

    def _validate_integer(self, param: Any, shape: Shape, errors: ValidationErrors, name: str) -> None:
        super()._validate_integer(param, shape, errors, name)
        if isinstance(param, int):
            _check_max(name, param, shape, "value", errors)

    _validate_long = _validate_integer

    def _validate_double(self, param: Any, shape: Shape, errors: ValidationErrors, name: str) -> None:
        super()._validate_double(param, shape, errors, name)
        if isinstance(param, (int, float)):
            _check_max(name, param, shape, "value", errors)

    _validate_float = _validate_double


def _check_max(name: str, value: float, shape: Shape, what: str, errors: ValidationErrors) -> None:
    if "max" in shape.metadata and value > shape.metadata["max"]:
        errors.report(name, f"max {what}", param=value, max_allowed=shape.metadata["max"])


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    # The models' patterns are Java regular expressions: \p{L}-style classes need the `regex` package
    # (not `re`), and some end in `${1,128}`, a quantified end anchor Java accepts and `regex` does not.
    return regex.compile(re.sub(r"\$\{\d+(,\d*)?\}$", "$", pattern))


def _full_match(pattern: str, value: str) -> bool:
    # AWS matches the whole value (Java's Pattern.matches); `.` does not match a line break there either.
    return _compiled(pattern).fullmatch(value) is not None


def _member(name: str) -> str:
    return name.lstrip(".") or "request"


def _describe(error: tuple[str, str, dict[str, Any]]) -> str:
    kind, name, details = error
    member = _member(name)
    if kind == "missing required field":
        member = f"{member}.{details['required_name']}" if name else details["required_name"]
        return f"Value null at '{member}' failed to satisfy constraint: Member must not be null"
    constraint = {
        "invalid length": f"Member must have length greater than or equal to {details.get('min_allowed')}",
        "invalid range": f"Member must have value greater than or equal to {details.get('min_allowed')}",
        "max length": f"Member must have length less than or equal to {details.get('max_allowed')}",
        "max value": f"Member must have value less than or equal to {details.get('max_allowed')}",
        "enum": f"Member must satisfy enum value set: {details.get('valid')}",
        "pattern": f"Member must satisfy regular expression pattern: {details.get('pattern')}",
        "invalid type": f"Member must be of type {details.get('valid_types')}",
    }.get(kind, kind)
    return f"Value at '{member}' failed to satisfy constraint: {constraint}"


def violations(service: str, operation: OperationModel, params: dict[str, Any]) -> list[str]:
    """What AWS would refuse in `params` of `operation`, in AWS's words (empty when valid)."""
    found: list[str] = []
    if operation.input_shape is not None:
        errors = StrictParamValidator().validate(params, operation.input_shape)
        # ValidationErrors keeps its findings private; its report is botocore's client-side wording.
        # Unknown members are left out: the protocol parser builds params from the model's members.
        found.extend(_describe(e) for e in errors._errors if e[0] != "unknown field")
    for rule in CROSS_FIELD_RULES:
        if (rule.service, rule.operation) == (service, operation.name) and rule.check(params):
            found.append(f"Value at '{rule.member}' failed to satisfy constraint: {rule.message}")
    return found


def message(found: list[str]) -> str:
    count = len(found)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(found)
