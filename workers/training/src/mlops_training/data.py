"""Training data: the train channel's JSONL files, validated line by line with the platform's row
models, rendered (QA rows through the prompt template, chat rows through the tokenizer's chat
template) and tokenized with labels only on what the model must learn to write.

Each example is stored with *pre-shifted* targets: `targets[i]` is the token the model must predict
after reading `input_ids[: i + 1]`, or -100. Shifting per example, before packing, means that no
target ever crosses from one packed example into the next.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from mlops_contracts.datasets import FORMAT_MODELS, ChatRow, DatasetFormat, DatasetKind, QaRow, detect_format

IGNORE_INDEX = -100

# QA rows (question + context -> answer). The evaluation worker must render its prompts the same
# way: the template is also written into the artifact's metadata.json.
QA_PROMPT_TEMPLATE = "### Context:\n{context}\n\n### Question:\n{question}\n\n### Answer:\n"

_TOKENIZE_BATCH = 512


class DatasetError(ValueError):
    """A row that cannot be trained on: names the file, the line and the reason."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}, line {line}" if line is not None else file
        super().__init__(f"invalid training data: {where}: {reason}")


@dataclass(frozen=True)
class DatasetFile:
    name: str
    sha256: str
    rows: int


@dataclass
class TrainingRows:
    format: DatasetFormat
    rows: list[QaRow | ChatRow]
    sources: list[tuple[str, int]]  # (file, line) of each row
    files: list[DatasetFile]

    @property
    def sha256(self) -> str:
        """The file's sha256 for one file (the same digest the API stored on upload); for several,
        the sha256 of their `name sha256` lines."""
        if len(self.files) == 1:
            return self.files[0].sha256
        listing = "".join(f"{f.name} {f.sha256}\n" for f in self.files)
        return hashlib.sha256(listing.encode()).hexdigest()


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def dataset_files(channel: Path) -> list[Path]:
    if not channel.is_dir():
        raise DatasetError(channel.name, None, f"the '{channel.name}' channel folder {channel} is missing")
    files = sorted(p for p in channel.rglob("*.jsonl") if p.is_file())
    if not files:
        raise DatasetError(channel.name, None, "the channel holds no .jsonl file")
    return files


def read_rows(channel: Path) -> TrainingRows:
    """Read and validate every line (same rules as the API's upload validation); the first bad
    line raises DatasetError."""
    files = dataset_files(channel)
    fmt: DatasetFormat | None = None
    rows: list[QaRow | ChatRow] = []
    sources: list[tuple[str, int]] = []
    described: list[DatasetFile] = []
    for path in files:
        name = path.relative_to(channel).as_posix()
        digest = hashlib.sha256()
        count = 0
        with path.open("rb") as stream:
            for line_no, chunk in enumerate(stream, start=1):
                digest.update(chunk)
                row = _parse_line(name, line_no, chunk)
                row_format = detect_format(DatasetKind.TRAIN, row)
                if fmt is None:
                    fmt = row_format
                elif row_format is not fmt:
                    raise DatasetError(
                        name, line_no, f"a '{row_format}' row in a '{fmt}' dataset (formats must not mix)"
                    )
                try:
                    model = FORMAT_MODELS[row_format].model_validate(row)
                except ValidationError as exc:
                    raise DatasetError(name, line_no, _describe(exc)) from None
                assert isinstance(model, QaRow | ChatRow)
                if isinstance(model, ChatRow) and not any(m.role == "assistant" for m in model.messages):
                    raise DatasetError(name, line_no, "no assistant message to learn from")
                rows.append(model)
                sources.append((name, line_no))
                count += 1
        if count == 0:
            raise DatasetError(name, None, "the file is empty")
        described.append(DatasetFile(name=name, sha256=digest.hexdigest(), rows=count))
    assert fmt is not None
    return TrainingRows(format=fmt, rows=rows, sources=sources, files=described)


def _parse_line(name: str, line_no: int, chunk: bytes) -> dict[str, Any]:
    if not chunk.strip():
        raise DatasetError(name, line_no, "empty line (JSONL needs one JSON object per line)")
    try:
        text = chunk.decode("utf-8").rstrip("\r\n")  # so a column is reported on this line
    except UnicodeDecodeError:
        raise DatasetError(name, line_no, "not UTF-8 text (is this a JSONL file?)") from None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(name, line_no, f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(row, dict):
        raise DatasetError(name, line_no, f"expected a JSON object, got {type(row).__name__}")
    return row


# --- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """Text to tokenize and the character spans the model learns to write."""

    text: str
    spans: list[tuple[int, int]]
    bos: bool  # prepend the tokenizer's BOS token id
    eos: bool  # append the EOS token id, trained (the model learns to stop)


def render_qa(row: QaRow) -> Rendered:
    prompt = QA_PROMPT_TEMPLATE.format(context=row.context, question=row.question)
    text = prompt + row.answer
    return Rendered(text=text, spans=[(len(prompt), len(text))], bos=True, eos=True)


def render_chat(row: ChatRow, tokenizer: Any) -> Rendered:
    """Render through the tokenizer's chat template; each assistant message's span is where the
    conversation rendered up to it (with the generation prompt) ends and the conversation rendered
    through it ends. Templates must render prefixes as prefixes (all common ones do)."""
    messages = [m.model_dump() for m in row.messages]

    def render(upto: int, generation_prompt: bool) -> str:
        text = tokenizer.apply_chat_template(
            messages[:upto], tokenize=False, add_generation_prompt=generation_prompt
        )
        return str(text)

    full = render(len(messages), False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(i, True) if i else ""
        through = render(i + 1, False)
        if not (full.startswith(through) and through.startswith(before)):
            raise ValueError(
                "the tokenizer's chat template does not render a conversation's beginning as a prefix "
                "of the whole; prompt tokens cannot be masked"
            )
        spans.append((len(before), len(through)))
    return Rendered(text=full, spans=spans, bos=False, eos=False)


# --- tokenization -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    input_ids: np.ndarray  # int64, shape (n,)
    targets: np.ndarray  # int64, shape (n,): next-token targets or IGNORE_INDEX
    source: tuple[str, int]

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def num_targets(self) -> int:
        return int((self.targets != IGNORE_INDEX).sum())


@dataclass
class TokenizedData:
    examples: list[Example]
    truncated: int = 0
    skipped: int = 0
    skipped_sources: list[tuple[str, int]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(len(e) for e in self.examples)

    @property
    def target_tokens(self) -> int:
        return sum(e.num_targets for e in self.examples)


def build_example(
    ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    rendered: Rendered,
    *,
    bos_id: int | None,
    eos_id: int | None,
    source: tuple[str, int],
) -> Example:
    """Token ids + char offsets -> (input_ids, pre-shifted targets) with labels on the spans."""
    starts = np.fromiter((o[0] for o in offsets), dtype=np.int64, count=len(offsets))
    trained = np.zeros(len(ids), dtype=bool)
    for begin, end in rendered.spans:
        trained |= (starts >= begin) & (starts < end)
    tokens = np.asarray(ids, dtype=np.int64)
    if rendered.bos and bos_id is not None:
        tokens = np.concatenate([[bos_id], tokens])
        trained = np.concatenate([[False], trained])
    if rendered.eos:
        if eos_id is None:
            raise ValueError("the tokenizer has no EOS token: the model could not learn to stop")
        tokens = np.concatenate([tokens, [eos_id]])
        trained = np.concatenate([trained, [True]])
    targets = np.full(tokens.shape, IGNORE_INDEX, dtype=np.int64)
    targets[:-1] = np.where(trained[1:], tokens[1:], IGNORE_INDEX)
    return Example(input_ids=tokens, targets=targets, source=source)


def _batches(items: Sequence[Any], size: int) -> Iterator[tuple[int, Sequence[Any]]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def tokenize(data: TrainingRows, tokenizer: Any, max_seq_length: int) -> TokenizedData:
    """Render and tokenize every row (batched through the fast tokenizer). Examples longer than
    max_seq_length are cut on the right; one left with nothing to learn is skipped and counted."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("a fast (Rust) tokenizer is required: labels are placed by character offsets")
    rendered: list[Rendered] = []
    for row, (name, line) in zip(data.rows, data.sources, strict=True):
        if isinstance(row, QaRow):
            rendered.append(render_qa(row))
            continue
        try:
            rendered.append(render_chat(row, tokenizer))
        except ValueError:
            raise
        except Exception as exc:  # jinja2 TemplateError and friends: the row breaks the template's rules
            raise DatasetError(name, line, f"the chat template rejected this conversation: {exc}") from None
    out = TokenizedData(examples=[])
    for start, chunk in _batches(rendered, _TOKENIZE_BATCH):
        encoded = tokenizer(
            [r.text for r in chunk], add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        for offset, item in enumerate(chunk):
            source = data.sources[start + offset]
            example = build_example(
                encoded["input_ids"][offset],
                encoded["offset_mapping"][offset],
                item,
                bos_id=tokenizer.bos_token_id,
                eos_id=tokenizer.eos_token_id,
                source=source,
            )
            if len(example) > max_seq_length:
                out.truncated += 1
                example = Example(
                    input_ids=example.input_ids[:max_seq_length],
                    targets=example.targets[:max_seq_length],
                    source=source,
                )
            if example.num_targets == 0:
                out.skipped += 1
                out.skipped_sources.append(source)
                continue
            out.examples.append(example)
    if not out.examples:
        raise DatasetError(
            data.files[0].name if len(data.files) == 1 else "train",
            None,
            f"no example keeps an answer token within max_seq_length={max_seq_length}",
        )
    return out
