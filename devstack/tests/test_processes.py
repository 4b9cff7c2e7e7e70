"""The one start / wait-until-ready / stop helper of the local stack, the demo, the tests and the bench."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import pytest

from mlops_devstack.emulator import free_port
from mlops_devstack.processes import ChildProcess, ProcessFailed, http_answers

pytestmark = pytest.mark.integration  # starts and stops processes


PY = sys.executable


def script(code: str) -> list[str]:
    return [PY, "-c", code]


def test_ready_then_stopped(tmp_path: Path) -> None:
    child = ChildProcess.start(
        "sleeper", script("print('ready', flush=True); import time; time.sleep(60)"), log=tmp_path / "s.log"
    )
    child.wait_until(lambda: "ready" in child.output(), timeout=30, interval=0.05)
    child.stop(timeout=5)
    assert not child.running
    assert child.process.returncode == -15  # SIGTERM was enough


def test_an_exit_before_ready_names_the_code_and_the_log(tmp_path: Path) -> None:
    child = ChildProcess.start(
        "failing", script("print('bad config'); raise SystemExit(3)"), log=tmp_path / "f.log"
    )
    with pytest.raises(ProcessFailed, match=r"failing exited with code 3:\nbad config"):
        child.wait_until(lambda: False, timeout=30)


def test_not_ready_in_time(tmp_path: Path) -> None:
    child = ChildProcess.start("slow", script("import time; time.sleep(60)"), log=tmp_path / "slow.log")
    try:
        with pytest.raises(ProcessFailed, match=r"slow was not listening within 0s; the end of .*slow\.log:"):
            child.wait_until(lambda: False, timeout=0.3, what="listening")
        assert child.running  # the caller decides
    finally:
        child.stop(timeout=5)


def test_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    child = ChildProcess.start("stubborn", script(code), log=tmp_path / "st.log")
    child.wait_until(lambda: "up" in child.output(), timeout=30, interval=0.05)
    started = time.monotonic()
    child.stop(timeout=0.5)
    assert child.process.returncode == -9
    assert time.monotonic() - started < 5


def test_stop_group_reaches_the_workers_of_a_server(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    code = (
        "import subprocess, sys, time; "
        f"w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(w.pid)); time.sleep(60)"
    )
    child = ChildProcess.start(
        "server", script(code), log=tmp_path / "g.log", new_session=True, stop_group=True
    )
    child.wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=30, interval=0.05)
    worker = int(pid_file.read_text())
    child.stop(timeout=5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("the server's worker outlived the stop")


def test_stop_group_needs_a_session_of_its_own() -> None:
    with pytest.raises(ValueError, match="new_session"):
        ChildProcess.start("x", script("pass"), stop_group=True)


def test_http_answers_nothing_on_a_free_port() -> None:
    assert http_answers(f"http://127.0.0.1:{free_port()}/health") is False


def _alive(pid: int) -> bool:
    import psutil  # type: ignore[import-untyped]

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("stop_descendants", [True, False])
def test_stop_descendants_reaches_what_it_started_in_another_session(
    tmp_path: Path, stop_descendants: bool
) -> None:
    # the test runner's runner starting the deployer's serving process (start_new_session): a group
    # stop cannot reach it, and it outlived every make test
    pid_file = tmp_path / "serving.pid"
    code = (
        "import subprocess, sys, time; "
        "s = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True); "
        f"open({str(pid_file)!r}, 'w').write(str(s.pid)); time.sleep(60)"
    )
    child = ChildProcess.start(
        "runner", script(code), log=tmp_path / "d.log", stop_descendants=stop_descendants
    )
    child.wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=30, interval=0.05)
    serving = int(pid_file.read_text())
    try:
        child.stop(timeout=5)
        deadline = time.monotonic() + 5
        while _alive(serving) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(serving) is not stop_descendants
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(serving, 9)
