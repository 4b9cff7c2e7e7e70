"""`make demo` fails loudly: a run that does not move within a phase's time is a DemoFailed naming
the phase, and the CLI's report shows what was seen (timeline, phase timings) before the message.
Against the live API with no workflow behind it, so the run stays `pending`."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mlops_devstack.demo.flow import DemoConfig, DemoFailed, DemoKeys, PhaseClock, PhaseTimeouts, run_demo
from mlops_devstack.demo.progress import LineProgress
from mlops_devstack.demo.report import print_failure
from mlops_testkit.api import Clients

pytestmark = pytest.mark.usefixtures("clean")


def test_a_run_that_does_not_train_in_time_fails_the_training_phase(clients: Clients) -> None:
    out = io.StringIO()
    clock = PhaseClock()
    config = DemoConfig(
        model_id="/models/not-needed",  # the run never reaches a worker
        timeouts=PhaseTimeouts(training=1.0),
        poll_seconds=0.2,
    )
    keys = DemoKeys(operator=clients.keys["operator"], approver=clients.keys["approver"])

    with pytest.raises(DemoFailed) as caught:
        run_demo(clients.base_url, keys, config, LineProgress(out, clock.started), clock)

    failure = caught.value
    assert failure.phase == "training"
    assert "is still 'pending' after 1s (timed out)" in str(failure)
    assert failure.run is not None
    assert [(p.name, p.note) for p in clock.phases][-1] == ("training", "failed")
    assert "FAILED training" in out.getvalue()

    print_failure(Console(file=out, width=160), failure, clock)
    report = out.getvalue()
    assert "run.created" in report  # the timeline so far
    assert "Phase timings" in report
    assert "make demo failed in phase training: run #" in report
