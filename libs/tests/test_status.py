"""The transition table, checked exhaustively against the written-out life of a run, and by
properties over random walks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_contracts.status import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    RunStatus,
    check_transition,
    is_allowed,
)

S = RunStatus
# The specification, written independently of the table: every legal step of a run.
EXPECTED_STEPS = {
    (S.PENDING, S.TRAINING),
    (S.PENDING, S.EVALUATING),  # eval_only skips training
    (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELLED),
    (S.TRAINING, S.EVALUATING),
    (S.TRAINING, S.FAILED),
    (S.TRAINING, S.CANCELLED),
    (S.EVALUATING, S.AWAITING_APPROVAL),  # MLScore >= threshold
    (S.EVALUATING, S.REJECTED),  # MLScore < threshold: auto-reject
    (S.EVALUATING, S.FAILED),
    (S.EVALUATING, S.CANCELLED),
    (S.AWAITING_APPROVAL, S.APPROVED),
    (S.AWAITING_APPROVAL, S.REJECTED),  # human reject or timeout
    (S.AWAITING_APPROVAL, S.FAILED),
    (S.AWAITING_APPROVAL, S.CANCELLED),
}

ALL_PAIRS = list(itertools.product(RunStatus, repeat=2))


def test_every_status_is_in_the_table() -> None:
    assert set(TRANSITIONS) == set(RunStatus)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_pair(current: RunStatus, target: RunStatus) -> None:
    expected = (current, target) in EXPECTED_STEPS
    assert is_allowed(current, target) is expected
    if current == target:
        assert check_transition(current, target) is False  # an idempotent repeat
    elif expected:
        assert check_transition(current, target) is True
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition(current, target)
        message = str(info.value)
        assert f"'{current}'" in message
        assert f"'{target}'" in message


def test_terminal_statuses() -> None:
    assert {S.APPROVED, S.REJECTED, S.FAILED, S.CANCELLED} == TERMINAL_STATUSES
    assert set(RunStatus) - TERMINAL_STATUSES == ACTIVE_STATUSES


# Position of each status along the release path: no step may go backwards.
ORDER = {
    S.PENDING: 0,
    S.TRAINING: 1,
    S.EVALUATING: 2,
    S.AWAITING_APPROVAL: 3,
    S.APPROVED: 4,
    S.REJECTED: 4,
    S.FAILED: 4,
    S.CANCELLED: 4,
}


@given(st.lists(st.sampled_from(list(RunStatus)), max_size=40))
def test_random_requests_never_move_a_run_backwards(requests: list[RunStatus]) -> None:
    """Apply arbitrary (redelivered, out-of-order) status requests the way the API does: legal
    steps apply, repeats are no-ops, illegal ones are refused. The run only moves forward, and
    once terminal never changes again."""
    status = S.PENDING
    for target in requests:
        before = status
        try:
            if check_transition(status, target):
                status = target
        except IllegalTransition:
            pass
        assert ORDER[status] >= ORDER[before]
        if before in TERMINAL_STATUSES:
            assert status == before


@given(st.lists(st.sampled_from(list(RunStatus)), max_size=40))
def test_a_run_takes_at_most_four_steps(requests: list[RunStatus]) -> None:
    status, steps = S.PENDING, 0
    for target in requests:
        if is_allowed(status, target):
            status, steps = target, steps + 1
    assert steps <= 4


def _reachable(start: RunStatus) -> set[RunStatus]:
    seen, frontier = {start}, [start]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def test_every_status_is_reachable_from_pending() -> None:
    assert _reachable(S.PENDING) == set(RunStatus)


@given(st.sampled_from(sorted(ACTIVE_STATUSES)))
def test_every_live_run_can_still_end(status: RunStatus) -> None:
    assert _reachable(status) & TERMINAL_STATUSES
    assert S.FAILED in TRANSITIONS[status]
    assert S.CANCELLED in TRANSITIONS[status]
