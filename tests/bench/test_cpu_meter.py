"""bench/cpu.py charges the CPU of a server's short-lived children to the server, once.

A PostgreSQL backend that lives for one request starts and exits between two snapshots of the
process tree; without its parent's reaped-children times, its CPU showed up as "other processes on
this machine" and the bench warned about a noisy machine that was really MLflow's database load."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.integration  # measures processes it starts

BENCH = Path(__file__).resolve().parents[2] / "bench"

# A child that burns CPU: with argument A it burns A seconds and exits; with A B it burns A, says
# "ready", waits for a line on stdin, burns B and exits, so it can straddle the start of a window.
CHILD = textwrap.dedent(
    """
    import sys, time

    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    burn(float(sys.argv[1]))
    if len(sys.argv) > 2:
        print("ready", flush=True)
        sys.stdin.readline()
        burn(float(sys.argv[2]))
    """
)

# The server stand-in: runs and reaps such children on command, answering "done" each time.
PARENT = textwrap.dedent(
    """
    import subprocess, sys

    child = [sys.executable, "-c", sys.argv[1]]
    held = None
    for line in sys.stdin:
        command, *args = line.split()
        if command == "burn":  # burn COUNT SECONDS: COUNT children, one after the other
            for _ in range(int(args[0])):
                subprocess.run([*child, args[1]], check=True)
        elif command == "hold":  # hold BEFORE AFTER: a child burns BEFORE now, AFTER on release
            held = subprocess.Popen([*child, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            held.stdout.readline()
        elif command == "release":
            held.communicate("go\\n")
        print("done", flush=True)
    """
)


def load_cpu_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cpu", BENCH / "cpu.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while they are built
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def parent():
    process = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )

    def command(line: str) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(line + "\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "done"

    command.pid = process.pid  # type: ignore[attr-defined]
    yield command
    process.kill()
    process.wait()


def cpu_seconds(window, group: str) -> float:
    return window.groups[group] * window.wall / 100


def test_children_that_start_and_exit_inside_the_window_count_for_their_parent(parent):
    cpu = load_cpu_module()
    meter = cpu.CpuMeter({"server": cpu.tree(parent.pid)})
    meter.start()
    parent("burn 3 0.3")
    window = meter.stop()
    # 0.9 s burnt by the children, plus their interpreter start-up.
    assert 0.85 <= cpu_seconds(window, "server") <= 1.5


def test_a_child_alive_at_the_start_counts_only_its_share_inside_the_window(parent):
    cpu = load_cpu_module()
    parent("hold 0.6 0.2")  # the child has burnt 0.6 s before the window opens
    meter = cpu.CpuMeter({"server": cpu.tree(parent.pid)})
    meter.start()
    parent("release")  # it burns 0.2 s more and exits; the parent reaps it
    window = meter.stop()
    assert 0.18 <= cpu_seconds(window, "server") <= 0.45
