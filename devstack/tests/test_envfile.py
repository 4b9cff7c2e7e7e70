"""Reading the KEY=VALUE env files that terraform/envs/local writes (.local/stack.env)."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_devstack.envfile import EnvFileError, load_env_file, parse_env_file


def test_env_file(tmp_path: Any) -> None:
    path = tmp_path / "stack.env"
    path.write_text("# outputs\n\nA=1\nexport B=\"two words\"\nC='x=y'\n")
    assert parse_env_file(path) == {"A": "1", "B": "two words", "C": "x=y"}
    environ = {"A": "kept"}
    assert load_env_file(path, environ) == {"B": "two words", "C": "x=y"}
    assert environ["A"] == "kept"
    path.write_text("not a line\n")
    with pytest.raises(EnvFileError, match=r"stack\.env:1"):
        parse_env_file(path)
    with pytest.raises(EnvFileError, match="cannot read"):
        parse_env_file(tmp_path / "missing.env")


def test_a_written_env_file_is_readable_by_its_owner_only(tmp_path: Any) -> None:
    """It may carry the workers' API key."""
    from mlops_devstack.envfile import write_env_file

    path = write_env_file({"API_KEY": "mlk_x", "URL": "http://a b"}, tmp_path / "stack.env")
    assert path.stat().st_mode & 0o777 == 0o600
    assert parse_env_file(path) == {"API_KEY": "mlk_x", "URL": "http://a b"}
