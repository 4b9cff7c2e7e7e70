"""The repository explains itself: design references point into docs/decisions/, and exist.

The founding design document lived outside the repository; its content is now the decision records
in docs/decisions/. A citation of the old document by name (its file name, or a bare decision number
such as the ones `_BARE_DECISION` matches) sends a reader to a file a clone does not have, so none may
remain; and a path into docs/decisions/ must name a record that is there.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

# In-process apart from one `git ls-files` (milliseconds): the files a clone has are the ones git tracks.
pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
DECISIONS = "docs/decisions/"

# The old document's name, spelled in two parts so that this file does not cite it either.
_OLD_NAME = re.compile(r"\b" + "DES" + r"IGN\b")
# A decision number of the old document standing alone ("D" and one digit from 1 to 8).
_BARE_DECISION = re.compile(r"\bD[1-8]\b")
# A path into docs/decisions/ (a record, the index, or the folder itself).
_DECISION_PATH = re.compile(re.escape(DECISIONS) + r"[\w./-]*")
# A relative Markdown link, as the records use to cite each other: [text](0005-system-of-record.md).
_RELATIVE_LINK = re.compile(r"\]\((?![a-z]+:|/)([\w./-]+\.md)(?:#[\w-]*)?\)")

CITING_SUFFIXES = (".py", ".md", ".tf", ".toml", ".json", ".yml", ".yaml")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    # A tracked file deleted in the working tree (a move in progress) has nothing to check.
    return [REPO / name for name in listed if name and (REPO / name).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # a binary file cites nothing
        return None


def citing_files() -> list[Path]:
    """The files a design reference can sit in: code, docs, Terraform, configuration, Dockerfiles."""
    return [
        path
        for path in tracked_files()
        if path.suffix in CITING_SUFFIXES or path.name == "Dockerfile" or path.name.endswith(".Dockerfile")
    ]


def old_citations(text: str) -> list[str]:
    """Lines citing the old document (its name or a bare decision number) outside a docs/decisions/ path."""
    found = []
    for line in text.splitlines():
        rest = _DECISION_PATH.sub("", line)
        if _OLD_NAME.search(rest) or _BARE_DECISION.search(rest):
            found.append(line.strip())
    return found


def decision_paths(text: str) -> set[str]:
    # A path ends a sentence now and then: "see docs/decisions/0007-fail-closed.md."
    return {match.rstrip(".") for match in _DECISION_PATH.findall(text)}


def test_the_old_design_document_is_not_cited() -> None:
    offenders = {}
    for path in citing_files():
        text = text_of(path)
        if text is not None and (lines := old_citations(text)):
            offenders[str(path.relative_to(REPO))] = lines
    assert not offenders, (
        "cite a record of docs/decisions/ by its path, e.g. (docs/decisions/0005-system-of-record.md), "
        f"instead of the design document outside the repository: {offenders}"
    )


def test_every_decision_path_names_a_file_that_exists() -> None:
    missing = {}
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        absent = sorted(cited for cited in decision_paths(text) if not (REPO / cited).exists())
        if absent:
            missing[str(path.relative_to(REPO))] = absent
    assert not missing, f"paths into docs/decisions/ that do not exist: {missing}"


def test_the_records_link_to_records_that_exist() -> None:
    records = sorted((REPO / DECISIONS).glob("*.md"))
    assert (REPO / DECISIONS / "README.md") in records, "docs/decisions/README.md is the index"
    broken = {
        (record.name, link)
        for record in records
        for link in _RELATIVE_LINK.findall(record.read_text())
        if not (record.parent / link).exists()
    }
    assert not broken, f"(record, link) pairs whose link names no file: {sorted(broken)}"


def test_the_index_lists_every_record() -> None:
    index = (REPO / DECISIONS / "README.md").read_text()
    records = [path.name for path in sorted((REPO / DECISIONS).glob("[0-9][0-9][0-9][0-9]-*.md"))]
    assert records, "no decision record in docs/decisions/"
    assert [name for name in records if f"({name})" not in index] == []


@pytest.mark.parametrize(
    ("line", "cited"),
    [
        ("# One image per service (" + "DES" + "IGN D" + "3).", True),
        ('"""' + "DES" + 'IGN section 6: the emulator."""', True),
        ("Decisions that hold the parts together (" + "DES" + "IGN.md):", True),
        ("the outbox (D" + "6): events are delayed", True),
        ("(docs/decisions/0006-transactional-outbox.md): events are delayed", False),
        ("a design choice; the D10 bus; AD1 and D1x are not decision numbers", False),
    ],
)
def test_old_citations_are_recognised(line: str, cited: bool) -> None:
    assert bool(old_citations(line)) is cited


def test_a_sentence_ending_after_a_path_keeps_the_path() -> None:
    assert decision_paths("see docs/decisions/0007-fail-closed.md.") == {"docs/decisions/0007-fail-closed.md"}


def test_relative_links_are_recognised() -> None:
    text = "see [0002](0002-one-asl-template.md), `^[a-z](-*[a-z0-9])$`, [web](https://example.com/x.md)"
    assert _RELATIVE_LINK.findall(text) == ["0002-one-asl-template.md"]
