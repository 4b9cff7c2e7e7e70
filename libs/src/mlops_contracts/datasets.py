"""Row formats of the platform's JSONL datasets, shared by the API (validation on upload) and the
workers (reading them)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

NonBlank = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1), Field()]


class DatasetKind(StrEnum):
    TRAIN = "train"
    EVAL = "eval"


class DatasetFormat(StrEnum):
    QA = "qa"
    CHAT = "chat"
    RAGAS = "ragas"


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QaRow(_Row):
    """Training row rendered through the prompt template: question + context -> answer."""

    question: NonBlank
    context: NonBlank
    answer: NonBlank


class ChatMessage(_Row):
    role: Literal["system", "user", "assistant"]
    content: NonBlank


class ChatRow(_Row):
    """Training row rendered through the tokenizer's chat template."""

    messages: list[ChatMessage] = Field(min_length=2)


class EvalRow(_Row):
    """Evaluation row for RAGAS: the candidate answers `question` from `contexts`."""

    question: NonBlank
    contexts: list[NonBlank] = Field(min_length=1)
    ground_truth: NonBlank


FORMAT_MODELS: dict[DatasetFormat, type[_Row]] = {
    DatasetFormat.QA: QaRow,
    DatasetFormat.CHAT: ChatRow,
    DatasetFormat.RAGAS: EvalRow,
}


def detect_format(kind: DatasetKind, row: object) -> DatasetFormat:
    """The format a row claims by its keys: chat rows carry `messages`."""
    if kind is DatasetKind.EVAL:
        return DatasetFormat.RAGAS
    if isinstance(row, dict) and "messages" in row:
        return DatasetFormat.CHAT
    return DatasetFormat.QA
