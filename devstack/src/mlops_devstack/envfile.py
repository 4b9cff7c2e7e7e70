"""Reading `KEY=VALUE` env files such as `.local/stack.env` (what `terraform/envs/local` outputs)."""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class EnvFileError(ValueError):
    pass


def parse_env_file(path: Path) -> dict[str, str]:
    """Blank lines and `#` comments are skipped; `export ` prefixes and matching quotes are removed."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvFileError(f"cannot read the env file {path}: {exc.strerror or exc}") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise EnvFileError(f"{path}:{number}: expected KEY=VALUE, got {line[:60]!r}")
        key, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def load_env_file(
    path: Path, environ: MutableMapping[str, str] | None = None, *, override: bool = False
) -> dict[str, str]:
    """Put the file's variables into `environ` (the process environment by default). Variables
    already set win unless `override`. Returns what was set."""
    target = os.environ if environ is None else environ
    applied: dict[str, str] = {}
    for key, value in parse_env_file(path).items():
        if override or key not in target:
            target[key] = value
            applied[key] = value
    return applied
