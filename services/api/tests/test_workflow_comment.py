"""What the release workflow receives must fit the package's ApprovalDescription and metadata (#18)."""

from __future__ import annotations

from mlops_api.approvals.service import WORKFLOW_COMMENT_MAX, registry_approver, workflow_comment


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


def test_the_registry_approver_fits_sagemakers_metadata_values() -> None:
    # CustomerMetadataValue: [\p{L}\p{Z}\p{N}_.:\/=+\-@]*, 1-256 characters
    assert registry_approver("Ada Lovelace (signed link)") == "Ada Lovelace signed link"
    assert registry_approver("approver-1@example.com") == "approver-1@example.com"
    assert registry_approver("Zoë Ñúñez") == "Zoë Ñúñez"
    assert registry_approver("(){}") == "unknown"
