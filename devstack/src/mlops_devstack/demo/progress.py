"""The demo's live progress: a `rich` panel redrawn in place on a terminal, one line per change
otherwise (CI logs, a pipe), so both read well."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

PHASES = ("stack start", "preparation", "training", "evaluation", "approval", "registry")


@dataclass(frozen=True)
class Snapshot:
    """What the run looks like now, as the API shows it."""

    phase: str
    run_id: int
    status: str
    phase_elapsed: float
    total_elapsed: float
    last_event: str | None
    detail: str | None

    def key(self) -> tuple[str, str, str | None, str | None]:
        return (self.phase, self.status, self.last_event, self.detail)


class Progress(Protocol):
    def phase_started(self, name: str) -> None: ...
    def phase_finished(self, name: str, seconds: float, note: str) -> None: ...
    def update(self, snapshot: Snapshot) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


class LineProgress:
    """A line per phase and per change of the run's status, last event or detail."""

    def __init__(self, out: TextIO | None = None, started: float | None = None) -> None:
        self._out = out or sys.stdout
        self._started = time.monotonic() if started is None else started
        self._last: tuple[str, str, str | None, str | None] | None = None

    def _print(self, text: str) -> None:
        print(f"  [{time.monotonic() - self._started:6.1f}s] {text}", file=self._out, flush=True)

    def phase_started(self, name: str) -> None:
        self._print(f"-> {name}")

    def phase_finished(self, name: str, seconds: float, note: str) -> None:
        failed = note == "failed"
        self._print(
            f"{'FAILED' if failed else 'done'} {name} in {seconds:.1f}s{'' if failed else _suffix(note)}"
        )

    def update(self, snapshot: Snapshot) -> None:
        if snapshot.key() == self._last:
            return
        self._last = snapshot.key()
        event = f", last event {snapshot.last_event}" if snapshot.last_event else ""
        self._print(f"   run #{snapshot.run_id} {snapshot.status}{event}{_suffix(snapshot.detail)}")

    def note(self, text: str) -> None:
        self._print(f"   {text}")

    def close(self) -> None:
        pass


class RichProgress:
    """A table of the phases, the running one with a spinner, its elapsed time and the run's state."""

    def __init__(self, console: Any, started: float | None = None) -> None:
        from rich.live import Live

        self._console = console
        self._started = time.monotonic() if started is None else started
        self._done: list[tuple[str, float, str]] = []
        self._current: tuple[str, float] | None = None
        self._snapshot: Snapshot | None = None
        self._notes: list[str] = []
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=4, transient=False)
        self._live.start()

    def phase_started(self, name: str) -> None:
        self._current = (name, time.monotonic())
        self._snapshot = None

    def phase_finished(self, name: str, seconds: float, note: str) -> None:
        self._done.append((name, seconds, note))
        self._current = None
        self._live.refresh()

    def update(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def note(self, text: str) -> None:
        self._notes = [*self._notes[-2:], text]

    def close(self) -> None:
        self._live.refresh()
        self._live.stop()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        table.add_column(width=2)
        table.add_column(min_width=12)
        table.add_column(justify="right", min_width=7)
        table.add_column()
        names = {name for name, _, _ in self._done}
        for name, seconds, note in self._done:
            mark = Text("x", style="red") if note == "failed" else Text("✓", style="green")
            table.add_row(mark, name, f"{seconds:.1f}s", Text(note, style="dim"))
        if self._current is not None:
            name, began = self._current
            names.add(name)
            table.add_row(
                Spinner("dots"), Text(name, style="bold"), f"{time.monotonic() - began:.1f}s", self._state()
            )
        for name in PHASES:
            if name not in names:
                table.add_row("", Text(name, style="dim"), "", "")
        footer = Text(f"elapsed {time.monotonic() - self._started:.0f}s", style="dim")
        return Group(*(Text(n, style="dim") for n in self._notes), table, footer)

    def _state(self) -> Any:
        from rich.text import Text

        snapshot = self._snapshot
        if snapshot is None:
            return ""
        text = Text(f"run #{snapshot.run_id} ")
        text.append(snapshot.status, style="bold cyan")
        if snapshot.last_event:
            text.append(f"  last event {snapshot.last_event}", style="dim")
        if snapshot.detail:
            text.append(f"  {snapshot.detail}")
        return text


def _suffix(text: str | None) -> str:
    return f" ({text})" if text else ""


def make_progress(console: Any, started: float) -> Progress:
    """Rich's live view on a terminal, lines otherwise."""
    if console.is_terminal:
        return RichProgress(console, started)
    return LineProgress(console.file, started)
