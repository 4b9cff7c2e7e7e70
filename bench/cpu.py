"""Where the CPU went during a measured window: each server, PostgreSQL, the load generator, this
process (the AWS emulator runs in it) and everything else on the machine.

On a small shared machine the last column matters: a benchmark run while something else burns a
core measures that something else too. Numbers are percent of one core over the window."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

Group = Callable[[], list[psutil.Process]]


def tree(pid: int) -> Group:
    """A process and all its descendants, looked up afresh at every snapshot."""

    def processes() -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    return processes


def _busy(times: Any) -> float:
    return float(
        sum(getattr(times, name, 0.0) for name in ("user", "system", "nice", "irq", "softirq", "steal"))
    )


def _seconds(process: psutil.Process) -> float:
    """CPU of the process itself plus that of the children it has reaped. The latter is what makes
    short-lived processes visible: a PostgreSQL backend that lives for one request (MLflow's
    connection pool discards its overflow connections) starts and exits between two snapshots, and
    only its parent's children times remember it."""
    try:
        t = process.cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)
    except psutil.Error:
        return 0.0


@dataclass
class Window:
    """Percent of one core per group over the window, per-process detail for the servers."""

    wall: float
    groups: dict[str, float]
    processes: dict[str, list[float]] = field(default_factory=dict)


class CpuMeter:
    def __init__(self, groups: dict[str, Group]) -> None:
        self._groups = dict(groups)
        self._start: tuple[float, float, dict[str, dict[int, float]]] | None = None

    def add(self, name: str, group: Group) -> None:
        """Add (or replace) a group, e.g. the load generator of the next run."""
        self._groups[name] = group

    def _snapshot(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        seen: set[int] = set()
        for name, group in self._groups.items():
            out[name] = {}
            for process in group():
                if process.pid not in seen:  # a process counts once, in the first group naming it
                    seen.add(process.pid)
                    out[name][process.pid] = _seconds(process)
        return out

    def start(self) -> None:
        self._start = (time.perf_counter(), _busy(psutil.cpu_times()), self._snapshot())

    def stop(self) -> Window:
        assert self._start is not None, "start() first"
        t0, busy0, before = self._start
        after = self._snapshot()
        wall = time.perf_counter() - t0
        busy = _busy(psutil.cpu_times()) - busy0
        groups: dict[str, float] = {}
        processes: dict[str, list[float]] = {}
        for name, now in after.items():
            then = before.get(name, {})
            # A process that exited during the window left its lifetime CPU in its parent's reaped
            # children times; subtracting what it had used before the window keeps just its share.
            groups[name] = max(0.0, 100 * (sum(now.values()) - sum(then.values())) / wall)
            deltas = [now[pid] - then.get(pid, 0.0) for pid in now]
            processes[name] = sorted((100 * d / wall for d in deltas if d > 0.01 * wall), reverse=True)
        groups["other"] = max(0.0, 100 * busy / wall - sum(groups.values()))
        return Window(wall=wall, groups=groups, processes=processes)
