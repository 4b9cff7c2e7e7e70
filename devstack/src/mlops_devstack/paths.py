"""Where the local stack keeps its state: `.local/` at the repository root (git-ignored)."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    env = os.environ.get("MLOPS_REPO_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Makefile").exists() and (parent / "libs").is_dir():
            return parent
    return Path.cwd()


def local_dir() -> Path:
    path = repo_root() / ".local"
    path.mkdir(exist_ok=True)
    return path
