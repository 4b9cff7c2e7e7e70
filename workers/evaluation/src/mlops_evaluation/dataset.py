"""The evaluation dataset: JSONL rows `{question, contexts[], ground_truth}` (mlops_contracts EvalRow).

A malformed file is refused as a whole, with every problem named by line and field (up to a limit),
so a person can fix the file in one go.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from mlops_contracts.datasets import EvalRow
from mlops_evaluation import storage
from mlops_evaluation.mlscore import EvaluationError

MAX_REPORTED_ERRORS = 20


class InvalidDataset(EvaluationError):
    def __init__(self, source: str, problems: list[str], more: int = 0) -> None:
        self.problems = problems
        listing = "; ".join(problems) + (f"; and {more} more" if more else "")
        super().__init__("Evaluation.InvalidDataset", f"invalid evaluation dataset {source}: {listing}")


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "row"


def parse_eval_jsonl(content: bytes, source: str = "<eval dataset>") -> list[EvalRow]:
    problems: list[str] = []
    more = 0
    rows: list[EvalRow] = []

    def problem(text: str) -> None:
        nonlocal more
        if len(problems) < MAX_REPORTED_ERRORS:
            problems.append(text)
        else:
            more += 1

    for number, raw in enumerate(content.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem(f"line {number}: not UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problem(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            problem(f"line {number}: expected a JSON object, got {type(data).__name__}")
            continue
        try:
            rows.append(EvalRow.model_validate(data))
        except ValidationError as exc:
            for err in exc.errors():
                problem(f"line {number}: field '{_field(err['loc'])}': {err['msg']}")
    if problems:
        raise InvalidDataset(source, problems, more)
    if not rows:
        raise InvalidDataset(source, ["the file has no rows"])
    return rows


def load_eval_dataset(uri: str) -> list[EvalRow]:
    try:
        content = storage.read_bytes(uri)
    except Exception as exc:
        raise EvaluationError(
            "Evaluation.DatasetUnavailable", f"cannot read the evaluation dataset {uri}: {exc}"
        ) from exc
    return parse_eval_jsonl(content, uri)
