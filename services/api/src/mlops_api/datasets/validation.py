"""Streaming validation of an uploaded JSONL dataset: every line is checked, errors carry line
numbers, and the file's sha256 is computed on the same pass."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import BinaryIO

from pydantic import ValidationError

from mlops_contracts.datasets import FORMAT_MODELS, DatasetFormat, DatasetKind, detect_format


@dataclass
class LineError:
    line: int
    error: str


@dataclass
class ValidationReport:
    sha256: str = ""
    size_bytes: int = 0
    row_count: int = 0
    format: DatasetFormat | None = None
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.row_count > 0


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def validate_jsonl(
    stream: BinaryIO, kind: DatasetKind, *, max_line_bytes: int, max_errors: int
) -> ValidationReport:
    report = ValidationReport()
    digest = hashlib.sha256()

    def fail(line: int, error: str) -> None:
        report.error_count += 1
        if len(report.errors) < max_errors:
            report.errors.append(LineError(line, error))

    line_no = 0
    while True:
        chunk = stream.readline(max_line_bytes + 1)
        if not chunk:
            break
        line_no += 1
        digest.update(chunk)
        report.size_bytes += len(chunk)
        if len(chunk) > max_line_bytes and not chunk.endswith(b"\n"):
            # Consume the rest of the oversized line without holding it in memory.
            while chunk and not chunk.endswith(b"\n"):
                chunk = stream.readline(1 << 20)
                digest.update(chunk)
                report.size_bytes += len(chunk)
            fail(line_no, f"line is longer than the {max_line_bytes}-byte limit")
            continue
        if not chunk.strip():
            fail(line_no, "empty line (JSONL needs one JSON object per line)")
            continue
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            fail(line_no, "not UTF-8 text (is this a JSONL file?)")
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(line_no, f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:  # the decoder recurses once per nesting level
            fail(line_no, "not valid JSON: nested too deeply")
            continue
        if not isinstance(row, dict):
            fail(line_no, f"expected a JSON object, got {type(row).__name__}")
            continue
        row_format = detect_format(kind, row)
        if report.format is None:
            report.format = row_format
        elif row_format is not report.format:
            fail(line_no, f"a '{row_format}' row in a '{report.format}' dataset (formats must not mix)")
            continue
        try:
            FORMAT_MODELS[row_format].model_validate(row)
        except ValidationError as exc:
            fail(line_no, _describe(exc))
            continue
        report.row_count += 1
    report.sha256 = digest.hexdigest()
    return report
