"""SERVING_BACKEND=local: the serving container's entrypoint (`python -m mlops_serving serve`) as a
process on a free port, one per endpoint (model).

Supervision lives in files under DEPLOYER_STATE_DIR, so that whichever deployer process handles
the next task (the local runner may run each invocation in a fresh process) finds what serves:
`endpoints/<endpoint>.json` names the deployment in service, its pid and URL. A new deployment
starts beside the old one; only when it answers /ping and passes the smoke test does it replace
the old one (whose process is then stopped), so a failed deployment leaves the previous one
serving - the local form of SageMaker's blue/green update with rollback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

DEFAULT_COMMAND = [sys.executable, "-m", "mlops_serving", "serve"]
STOP_GRACE_SECONDS = 10.0


class ServingStartFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Serving:
    deployment_id: int
    pid: int
    port: int
    url: str
    model_dir: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(pid: int, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM to the process group the serving process leads, SIGKILL after the grace period."""
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child
            if not pid_alive(pid):
                return
            time.sleep(0.1)


class LocalServing:
    def __init__(self, state_dir: Path, command: str = "") -> None:
        self.state_dir = state_dir
        self.command = shlex.split(command) if command else list(DEFAULT_COMMAND)

    def _state_file(self, endpoint: str) -> Path:
        return self.state_dir / "endpoints" / f"{endpoint}.json"

    def serving(self, endpoint: str) -> Serving | None:
        """What serves `endpoint` now (None if nothing, or if its process is gone)."""
        path = self._state_file(endpoint)
        if not path.is_file():
            return None
        serving = Serving(**json.loads(path.read_text()))
        # A file left by a stack that stopped (its processes with it): the pid may be another
        # process's by now, so only a live process that still answers /ping at its URL counts.
        return serving if pid_alive(serving.pid) and _pings(serving.url, timeout=10.0) else None

    def model_dir(self, endpoint: str, deployment_id: int) -> Path:
        return self.state_dir / "models" / endpoint / str(deployment_id)

    def start(
        self,
        endpoint: str,
        deployment_id: int,
        model_dir: Path,
        *,
        timeout_seconds: float,
        beat: Callable[[], None],
    ) -> Serving:
        """Start a serving process for the deployment and wait for its /ping; raises ServingStartFailed
        (the process stopped) when it exits or does not answer in time."""
        port = free_port()
        log_path = self.state_dir / "logs" / f"{endpoint}-{deployment_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "SERVING_MODEL_DIR": str(model_dir.resolve()),
            "SERVING_PORT": str(port),
            "SERVING_HOST": "127.0.0.1",
        }
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                self.command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_seconds
        next_beat = time.monotonic()
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-1500:]
                raise ServingStartFailed(f"the serving process exited with {process.returncode}: {tail}")
            if _pings(url):
                break
            if time.monotonic() > deadline:
                stop_process(process.pid)
                raise ServingStartFailed(
                    f"the serving process did not answer /ping within {timeout_seconds:g} s"
                )
            if time.monotonic() >= next_beat:
                beat()
                next_beat = time.monotonic() + 30
            time.sleep(0.2)
        log.info("serving %s deployment %s at %s (pid %s)", endpoint, deployment_id, url, process.pid)
        return Serving(
            deployment_id=deployment_id, pid=process.pid, port=port, url=url, model_dir=str(model_dir)
        )

    def promote(self, endpoint: str, serving: Serving) -> Serving | None:
        """`serving` becomes what answers for `endpoint`; the process it replaces is stopped."""
        previous = self.serving(endpoint)
        path = self._state_file(endpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(serving)))
        if previous is not None and previous.pid != serving.pid:
            stop_process(previous.pid)
        return previous

    def discard(self, serving: Serving) -> None:
        """A deployment that failed its smoke test: its process goes, the previous one stays."""
        stop_process(serving.pid)

    def retire(self, endpoint: str, deployment_id: int) -> bool:
        """Stop the endpoint's process if `deployment_id` is what it serves (a retired deployment)."""
        current = self.serving(endpoint)
        if current is None or current.deployment_id != deployment_id:
            return False
        stop_process(current.pid)
        self._state_file(endpoint).unlink(missing_ok=True)
        return True


def _pings(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url + "/ping", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def ask_local(url: str, timeout_seconds: float) -> Callable[[dict[str, object]], str]:
    def ask(body: dict[str, object]) -> str:
        response = httpx.post(url + "/invocations", json=body, timeout=timeout_seconds + 5)
        response.raise_for_status()
        return str(response.json()["answer"])

    return ask
