"""`KEY=VALUE` env files such as `.local/stack.env` (what `terraform/envs/local` outputs), read with
python-dotenv: the same parser pydantic-settings (the API's `env_file`) and the SQS runtime's
`--env-file` use, so every reader of the file agrees on quotes, `export ` and comments."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from mlops_devstack.local_secrets import write_private

# Written bare, these read the same in a shell (`set -a; . FILE`) and in python-dotenv.
_BARE = re.compile(r"[A-Za-z0-9_@%+=:,./?&~^-]*")


class EnvFileError(ValueError):
    pass


def parse_env_file(path: Path) -> dict[str, str]:
    """The file's variables, taken literally (no `${VAR}` expansion). A line python-dotenv cannot
    parse is an error here (python-dotenv itself only logs it and skips it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvFileError(f"cannot read the env file {path}: {exc.strerror or exc}") from exc
    for binding in parse_stream(io.StringIO(text)):
        if binding.error or (binding.key is not None and binding.value is None):
            statement = binding.original.string
            number = binding.original.line + statement[: len(statement) - len(statement.lstrip())].count("\n")
            raise EnvFileError(f"{path}:{number}: expected KEY=VALUE, got {statement.strip()[:60]!r}")
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


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


def write_env_file(env: Mapping[str, str], path: Path, header: tuple[str, ...] = ()) -> Path:
    """KEY=VALUE lines, loadable by `set -a; . FILE`, python-dotenv and pydantic-settings' env_file:
    a value with other characters than `_BARE`'s is single-quoted (both read that literally)."""
    lines = [f"# {line}" for line in header]
    for key, value in sorted(env.items()):
        if "\n" in value:
            raise ValueError(f"{key} has a newline; an env file cannot carry it")
        if _BARE.fullmatch(value):
            lines.append(f"{key}={value}")
        elif "'" in value or "\\" in value:
            raise ValueError(
                f"{key} has a quote or a backslash; the shell and python-dotenv read those apart"
            )
        else:
            lines.append(f"{key}='{value}'")
    write_private(path, "\n".join(lines))  # it may hold the workers' API key
    return path
