"""The small HTML pages of approval links: a confirmation form for the signed-in approver (opening a
link never decides, so link-preview bots cannot approve), the outcome, and errors. Every value is
escaped."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from mlops_api.approvals.links import Decision
from mlops_api.approvals.models import Approval
from mlops_api.approvals.ports import RunFacts

# No scripts, no external resources, no framing (clickjacking on the confirm button), forms post
# back here only; the link itself is a capability: no caching, no Referer leaking it.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;
color:#1f2328;line-height:1.45}
h1{font-size:1.4rem}table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #d0d7de}th{width:40%;font-weight:600}
label{display:block;margin-top:1rem;font-weight:600}input,textarea{width:100%;padding:.4rem;font:inherit;
box-sizing:border-box}textarea{min-height:6rem}
button{margin-top:1.2rem;padding:.6rem 1.4rem;font:inherit;font-weight:600;border:0;border-radius:6px;
color:#fff;cursor:pointer}.approve{background:#1a7f37}.reject{background:#cf222e}
.error{background:#ffebe9;border:1px solid #ff8182;padding:.6rem;border-radius:6px}
.ok{background:#dafbe1;border:1px solid #4ac26b;padding:.6rem;border-radius:6px}.muted{color:#656d76}
"""


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex,nofollow">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers=SECURITY_HEADERS)


def _facts(run: RunFacts, approval: Approval) -> str:
    verdict = "at or above" if approval.ml_score >= approval.ml_score_threshold else "below"
    rows = [
        ("Run", f"#{run.id} ({run.experiment_name})"),
        ("Model", run.model_name),
        ("Base model", run.model_id),
        ("Model package", approval.model_package_arn or "-"),
        (
            "MLScore",
            f"{approval.ml_score:.3f} ({verdict} the threshold {approval.ml_score_threshold:.2f})",
        ),
    ]
    for name, score in sorted(approval.scores.items()):
        rows.append((name, "not scored" if score is None else f"{float(score):.3f}"))
    rows.append(("Decide before", f"{approval.expires_at:%Y-%m-%d %H:%M} UTC"))
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def confirm(
    run: RunFacts,
    approval: Approval,
    decision: Decision,
    *,
    person: str,
    comment: str = "",
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """`person`: who is signed in (the identity the load balancer signed), recorded as the decider."""
    verb = "Approve" if decision == "approve" else "Reject"
    title = f"{verb} {run.model_name} (run #{run.id})?"
    outcome = (
        "The model package becomes <b>Approved</b> and is tagged for production."
        if decision == "approve"
        else "The model package becomes <b>Rejected</b>."
    )
    comment_label = "Comment (optional)" if decision == "approve" else "Why is it rejected? (required)"
    required = "" if decision == "approve" else " required"
    error = f'<p class="error" role="alert">{escape(problem)}</p>' if problem else ""
    body = f"""
<h1>{escape(title)}</h1>
{error}
<p class="who">Signed in as <b>{escape(person)}</b>: the decision is recorded under this identity.</p>
{_facts(run, approval)}
<p>{outcome} Nothing is decided until you confirm below; this link works once.</p>
<form method="post">
<label for="comment">{comment_label}</label>
<textarea id="comment" name="comment" maxlength="4000"{required}>{escape(comment)}</textarea>
<button type="submit" class="{decision}">{verb} run #{run.id}</button>
</form>
<p class="muted">Your identity, the time and your address are kept in the run's audit trail.</p>
"""
    return _page(title, body, status_code)


def decided(run: RunFacts, approval: Approval) -> HTMLResponse:
    title = f"Run #{run.id} {approval.status}"
    body = f"""
<h1>{escape(run.model_name)}: run #{run.id} {escape(approval.status)}</h1>
<p class="ok" role="status">Recorded: {escape(approval.status)} by {escape(approval.decided_by or "")}.
The release workflow continues.</p>
{_facts(run, approval)}
"""
    return _page(title, body)


def problem(status_code: int, message: str, *, sign_in_url: str = "") -> HTMLResponse:
    """An error page; a 401 links to `sign_in_url` where one is configured (`make dev`)."""
    titles = {
        400: "Incomplete form",
        401: "Sign in to decide",
        403: "Invalid approval link",
        404: "Not found",
        409: "Already decided",
        410: "This approval link can no longer be used",
        503: "Approvals are unavailable right now",
    }
    title = titles.get(status_code, "Approval link")
    body = f"""
<h1>{escape(title)}</h1>
<p class="error" role="alert">{escape(message)}</p>
{f'<p><a href="{escape(sign_in_url)}">Sign in</a>, then open the link again.</p>' if sign_in_url else ""}
<p class="muted">Nothing was decided. Open the run in the dashboard to see where it stands.</p>
"""
    return _page(title, body, status_code)
