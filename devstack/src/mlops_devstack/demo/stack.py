"""The stack the demo runs on: the `make dev` already answering on the API port, else `make dev`'s own
stack started in the background (its output in `.local/demo-stack.log`) and stopped again at the end.
The demo's keys come from the admin key that `make dev` keeps in `.local/`."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from mlops_devstack.demo.flow import DemoFailed, DemoKeys
from mlops_devstack.local_secrets import write_private
from mlops_devstack.paths import local_dir
from mlops_devstack.processes import ChildProcess, ProcessFailed
from mlops_devstack.stack import DEFAULT_API_PORT

READY_LINE = "Ready in "  # what `make dev` prints once every part runs
STEP_LINE = re.compile(r"^\s*\[\s*[0-9.]+s\] (.+)$", re.MULTILINE)  # its timed step lines
STOP_TIMEOUT = 60.0


def api_port() -> int:
    return int(os.environ.get("API_PORT", DEFAULT_API_PORT))


def health(api_url: str) -> int | None:
    """The status code of GET /health, None when nothing answers."""
    try:
        return httpx.get(f"{api_url}/health", timeout=3).status_code
    except httpx.HTTPError:
        return None


@dataclass
class DemoStack:
    api_url: str
    child: ChildProcess | None = None  # set when the demo started the stack

    @property
    def log(self) -> Path | None:
        return None if self.child is None else self.child.log

    def stop(self) -> None:
        """Stop the stack the demo started (SIGTERM: `make dev` stops every part in order)."""
        if self.child is None or not self.child.running:
            return
        print("Stopping the stack the demo started...", flush=True)
        self.child.stop(timeout=STOP_TIMEOUT)


def attach_or_start(
    api_url: str, port: int, *, timeout: float = 420.0, say: Callable[[str], None] = lambda _: None
) -> DemoStack:
    """The running stack, or a new one once `make dev` says it is ready (each of its steps is
    passed to `say` as it starts)."""
    if health(api_url) is not None:
        return DemoStack(api_url)
    # A session of its own: a Ctrl-C of the demo reaches the stack only as the demo's one SIGTERM.
    child = ChildProcess.start(
        "`make dev`",
        [sys.executable, "-m", "mlops_devstack", "dev", "--api-port", str(port)],
        log=local_dir() / "demo-stack.log",
        new_session=True,
    )
    stack = DemoStack(api_url, child)
    try:
        _wait_ready(stack, timeout, say)
    except BaseException:
        stack.stop()
        raise
    return stack


def _wait_ready(stack: DemoStack, timeout: float, say: Callable[[str], None]) -> None:
    child = stack.child
    assert child is not None
    assert child.log is not None
    steps_seen = 0

    def ready() -> bool:
        nonlocal steps_seen
        output = child.output()
        steps = STEP_LINE.findall(output)
        for step in steps[steps_seen:]:
            say(f"make dev: {step}")
        steps_seen = len(steps)
        return READY_LINE in output and health(stack.api_url) == 200

    try:
        child.wait_until(ready, timeout=timeout, interval=1.0)
    except ProcessFailed:
        if child.running:
            raise DemoFailed(
                "stack start", f"`make dev` was not ready within {timeout:.0f}s; see {child.log}"
            ) from None
        raise DemoFailed(
            "stack start",
            f"`make dev` exited with code {child.process.returncode}; the end of {child.log}:\n"
            + _tail(child.log),
        ) from None


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def demo_keys(api_url: str) -> DemoKeys:
    """An operator and an approver key for the demo, made once with `make dev`'s admin key (through
    POST /api-keys) and kept in `.local/`; a kept key the API no longer knows is made again."""
    admin_file = local_dir() / "admin-api-key"
    try:
        admin = admin_file.read_text().strip()
    except FileNotFoundError:
        raise DemoFailed(
            "keys",
            f"{admin_file} is missing: the API at {api_url} was not started by this checkout's `make dev`",
        ) from None
    with httpx.Client(base_url=api_url, timeout=30) as http:
        if http.get("/me", headers={"X-API-Key": admin}).status_code != 200:
            raise DemoFailed(
                "keys",
                f"the API at {api_url} does not accept the key in {admin_file}: another stack (another "
                "checkout, or someone else's process) holds the port; stop it or choose API_PORT",
            )
        return DemoKeys(
            operator=_kept_key(http, admin, "operator"),
            approver=_kept_key(http, admin, "approver"),
        )


def _kept_key(http: httpx.Client, admin: str, role: str) -> str:
    path = local_dir() / f"demo-{role}-api-key"
    if path.exists():
        key = path.read_text().strip()
        me = http.get("/me", headers={"X-API-Key": key})
        if me.status_code == 200 and me.json().get("role") == role:
            return key
    response = http.post(
        "/api-keys", json={"name": f"demo-{role}", "role": role}, headers={"X-API-Key": admin}
    )
    if response.status_code != 201:
        raise DemoFailed(
            "keys", f"creating the demo's {role} key failed: {response.status_code} {response.text}"
        )
    key = str(response.json()["key"])
    write_private(path, key)
    return key
