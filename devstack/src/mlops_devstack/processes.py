"""A server as a child process: start it, wait until it is ready, stop it. The one helper of the
local stack, the demo, the tests and the bench (each had its own loop of poll / probe / sleep and
of SIGTERM / wait / SIGKILL).

Hand-written rather than a library: what is needed is subprocess plus a deadline, and the readiness
checks (an HTTP answer, a line in the log) and the process groups differ from caller to caller."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ProcessFailed(RuntimeError):
    """The process exited before it was ready, or was not ready in time."""


@dataclass
class ChildProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path | None = None  # where its output goes; None: it shares ours
    group: bool = False  # stop() signals its whole process group (started with new_session)
    # stop() also stops what it started in sessions of their own (the deployer's serving processes)
    descendants: bool = False
    _stopped: bool = field(default=False, repr=False)

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        cwd: Path | None = None,
        new_session: bool = False,
        stop_group: bool = False,
        stop_descendants: bool = False,
    ) -> ChildProcess:
        """`new_session`: the child and what it starts get a process group of their own, which a
        Ctrl-C in our terminal does not reach; `stop_group`: stop() signals that whole group (a
        server and its worker processes) rather than the child alone; `stop_descendants`: stop()
        also stops every process it started, whatever their group (found while it still runs)."""
        if stop_group and not new_session:
            raise ValueError("stop_group needs new_session: the group would be ours")
        if log is None:
            process = subprocess.Popen(argv, env=env, cwd=cwd, start_new_session=new_session)
        else:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("wb") as out:
                process = subprocess.Popen(
                    argv,
                    env=env,
                    cwd=cwd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=new_session,
                )
        return cls(name, process, log, stop_group, stop_descendants)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log is not None and self.log.exists() else ""

    def tail(self, chars: int = 2000) -> str:
        return self.output()[-chars:]

    def wait_until(
        self, ready: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "ready"
    ) -> None:
        """Return once `ready()`; ProcessFailed if the process exits first or `timeout` passes
        (the process is left running: the caller decides whether to stop it)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                where = f":\n{self.tail()}" if self.log is not None else " (see its output above)"
                raise ProcessFailed(f"{self.name} exited with code {self.process.returncode}{where}")
            if ready():
                return
            if time.monotonic() >= deadline:
                where = f"; the end of {self.log}:\n{self.tail()}" if self.log is not None else ""
                raise ProcessFailed(f"{self.name} was not {what} within {timeout:.0f}s{where}")
            time.sleep(interval)

    def stop(self, timeout: float = 10.0, sig: signal.Signals = signal.SIGTERM) -> None:
        """`sig` (SIGTERM: a graceful stop for uvicorn, Streamlit, the runner), then SIGKILL after
        `timeout`. With `group`, the whole group, and whatever of it outlived its parent."""
        if self._stopped:
            return
        self._stopped = True
        started = descendants_of(self.process.pid) if self.descendants and self.running else []
        if self.running:
            self._signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        terminate(started, timeout=timeout)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.group:
                os.killpg(self.process.pid, sig)  # its pid is its group's id (new session)
            else:
                self.process.send_signal(sig)


def descendants_of(pid: int) -> list[Any]:
    """The processes `pid` started, and theirs (psutil.Process objects; [] once it is gone)."""
    import psutil  # type: ignore[import-untyped]

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def terminate(processes: Sequence[Any], *, timeout: float) -> None:
    """SIGTERM to each of `processes` (psutil.Process) still alive, SIGKILL to those left after
    `timeout`."""
    import psutil

    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def http_answers(url: str, *, ok_only: bool = False, timeout: float = 2.0) -> bool:
    """Whether a GET of `url` gets an HTTP answer (with `ok_only`, a 200)."""
    parsed = urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=timeout)
    try:
        connection.request("GET", parsed.path or "/")
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return status == 200 if ok_only else True
