"""The comment the release workflow receives must fit the package's ApprovalDescription (#18)."""

from __future__ import annotations

from mlops_api.approvals.service import WORKFLOW_COMMENT_MAX, workflow_comment


def test_a_long_comment_is_cut_so_the_approval_description_fits() -> None:
    approver = "a" * 128  # the longest name a key may have
    comment = workflow_comment("hallucinates on dosage " + "x" * 3977)
    assert len(comment) == WORKFLOW_COMMENT_MAX
    assert comment.startswith("hallucinates on dosage ")
    assert comment.endswith("…")
    assert len(f"rejected by {approver}: {comment}") <= 1024  # UpdateModelPackage.ApprovalDescription


def test_a_comment_becomes_one_line_and_a_short_one_is_kept_whole() -> None:
    # ApprovalDescription's pattern is `.*`, matched whole: no line breaks
    assert (
        workflow_comment("hallucinates\r\non dosage\n\n see sample 3")
        == "hallucinates on dosage see sample 3"
    )
    assert workflow_comment("ship it") == "ship it"
    assert workflow_comment(None) == ""
