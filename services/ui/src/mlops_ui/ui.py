"""What every page shares: the signed-in session, the API client, status badges, readable errors,
and formatting of times, durations and sizes."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from mlops_contracts.api_client import IDENTITY_HEADER, ApiClient, ApiError
from mlops_ui.config import get_settings

KEY = "api_key"
PRINCIPAL = "principal"
IDENTITY = "identity"  # the signed identity the principal was checked for

BadgeColor = Literal["red", "orange", "yellow", "blue", "green", "violet", "gray", "primary"]


@dataclass(frozen=True)
class StatusStyle:
    label: str
    color: BadgeColor
    icon: str


STATUS: dict[str, StatusStyle] = {
    "pending": StatusStyle("Pending", "gray", ":material/schedule:"),
    "training": StatusStyle("Training", "blue", ":material/model_training:"),
    "evaluating": StatusStyle("Evaluating", "violet", ":material/analytics:"),
    "awaiting_approval": StatusStyle("Awaiting approval", "orange", ":material/pending_actions:"),
    "approved": StatusStyle("Approved", "green", ":material/verified:"),
    "rejected": StatusStyle("Rejected", "red", ":material/block:"),
    "failed": StatusStyle("Failed", "red", ":material/error:"),
    "cancelled": StatusStyle("Cancelled", "gray", ":material/cancel:"),
}
ACTIVE = ("pending", "training", "evaluating", "awaiting_approval")

REGISTRY_STATUS: dict[str, StatusStyle] = {
    "Approved": StatusStyle("Approved", "green", ":material/verified:"),
    "Rejected": StatusStyle("Rejected", "red", ":material/block:"),
    "PendingManualApproval": StatusStyle("Pending approval", "orange", ":material/pending_actions:"),
}


DEPLOYMENT_STATUS: dict[str, StatusStyle] = {
    "deploying": StatusStyle("Deploying", "blue", ":material/sync:"),
    "in_service": StatusStyle("In service", "green", ":material/cloud_done:"),
    "failed": StatusStyle("Failed", "red", ":material/error:"),
    "rolled_back": StatusStyle("Rolled back", "orange", ":material/undo:"),
    "retired": StatusStyle("Retired", "gray", ":material/cloud_off:"),
}


def style(status: str | None, table: dict[str, StatusStyle] = STATUS) -> StatusStyle:
    if status is None:
        return StatusStyle("Unknown", "gray", ":material/help:")
    return table.get(status, StatusStyle(status.replace("_", " ").capitalize(), "gray", ":material/help:"))


def status_text(status: str | None, table: dict[str, StatusStyle] = STATUS) -> str:
    """For table cells: the label (coloured by `styled`)."""
    return style(status, table).label


# Text and background of a status cell, by badge colour (no emoji: they need fonts a server may lack).
CELL_COLORS: dict[str, tuple[str, str]] = {
    "gray": ("#4b5563", "#f3f4f6"),
    "blue": ("#1d4ed8", "#dbeafe"),
    "violet": ("#6d28d9", "#ede9fe"),
    "orange": ("#b45309", "#ffedd5"),
    "yellow": ("#a16207", "#fef9c3"),
    "green": ("#15803d", "#dcfce7"),
    "red": ("#b91c1c", "#fee2e2"),
    "primary": ("#1d4ed8", "#dbeafe"),
}


def styled(frame: pd.DataFrame, columns: list[str], *tables: dict[str, StatusStyle]) -> Any:
    """A Styler colouring the status labels in `columns` like their badges."""
    by_label = {s.label: s.color for table in (tables or (STATUS,)) for s in table.values()}

    def css(value: object) -> str:
        color = by_label.get(str(value))
        if color is None:
            return ""
        text, background = CELL_COLORS[color]
        return f"color: {text}; background-color: {background}; font-weight: 600"

    present: list[Hashable] = [c for c in columns if c in frame.columns]
    return frame.style.map(css, subset=present)


def scored(frame: pd.DataFrame, columns: list[str], threshold: float) -> Any:
    """A Styler showing scores with two decimals ("—" when missing), red below the threshold and
    green at or above it. (Scores become text: Streamlit shows a styled table's missing numbers as
    "None"; two-decimal text in [0, 1] still sorts in numeric order.)"""
    present: list[Hashable] = [c for c in columns if c in frame.columns]
    shown = frame.copy()
    for column in present:
        shown[column] = [score(float(v), 2) if _is_number(v) else "—" for v in frame[column]]

    def css(value: object) -> str:
        try:
            number = float(str(value))
        except ValueError:
            return "color: #9ca3af"
        text, background = CELL_COLORS["green" if number >= threshold else "red"]
        return f"color: {text}; background-color: {background}; text-align: right"

    return shown.style.map(css, subset=present)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def badge(status: str | None, table: dict[str, StatusStyle] = STATUS) -> None:
    s = style(status, table)
    st.badge(s.label, icon=s.icon, color=s.color)


# --- the signed-in session -------------------------------------------------------------------------


def presented_identity() -> str | None:
    """The signed-in person's identity as the dashboard received it: the load balancer's signed
    header (or, in `make dev`, the cookie its sign-in page set). The dashboard never checks it
    itself: it passes it on and the API verifies it (mlops_api.auth.identity)."""
    token = st.context.headers.get(IDENTITY_HEADER)
    if not token:
        cookie = get_settings().identity_cookie
        token = st.context.cookies.get(cookie) if cookie else None
    return token or None


def client(api_key: str | None = None, *, identity: str | None = None) -> ApiClient:
    """The API as the signed-in person (their identity) or the API key signed in with (`make dev`);
    never a shared key."""
    settings = get_settings()
    key = api_key if api_key is not None else st.session_state.get(KEY)
    if key is None and identity is None:
        identity = presented_identity()
    # One try per click: the person sees the error and tries again (workers retry, a page waits).
    return ApiClient(
        settings.api_url,
        key,
        identity=None if key else identity,
        timeout=settings.api_timeout_seconds,
        attempts=1,
    )


def principal() -> dict[str, Any] | None:
    value = st.session_state.get(PRINCIPAL)
    return value if isinstance(value, dict) else None


def sign_in(api_key: str) -> dict[str, Any]:
    """Checks the key with the API (GET /me); raises ApiError when it is refused."""
    me = client(api_key).me()
    st.session_state[KEY] = api_key
    st.session_state[PRINCIPAL] = me
    return me


def sign_in_person(identity: str) -> dict[str, Any]:
    """Who the presented identity is, as the API verifies it (GET /me); raises ApiError when it is
    refused. Checked again whenever the identity changes (a new sign-in, a refreshed token)."""
    if st.session_state.get(IDENTITY) == identity and (me := principal()) is not None:
        return me
    me = client(identity=identity).me()
    st.session_state[IDENTITY] = identity
    st.session_state[PRINCIPAL] = me
    return me


def sign_out() -> None:
    for key in (KEY, PRINCIPAL, IDENTITY):
        st.session_state.pop(key, None)


def can(permission: str) -> bool:
    me = principal()
    return bool(me) and permission in (me or {}).get("permissions", [])


CAN_LAUNCH = "launch runs"
CAN_UPLOAD = "upload datasets"
CAN_APPROVE = "approve or reject runs"
CAN_CANCEL = "cancel runs"
CAN_DEPLOY = "deploy, roll back and retire approved models"


def show_error(exc: ApiError, what: str = "") -> None:
    """An API failure as a message a person can act on."""
    prefix = f"{what}: " if what else ""
    if exc.unreachable:
        st.error(f"{prefix}{exc.message}. Is the API running?", icon=":material/cloud_off:")
    elif exc.status_code == 401:
        st.error(
            f"{prefix}you are no longer signed in ({exc.message}). Reload the page to sign in again.",
            icon=":material/key_off:",
        )
    elif exc.status_code == 403:
        st.warning(f"{prefix}{exc.message}", icon=":material/lock:")
    elif exc.status_code == 404:
        st.warning(f"{prefix}{exc.message}", icon=":material/search_off:")
    else:
        st.error(f"{prefix}{exc.message}", icon=":material/error:")


@contextmanager
def reported(what: str = "") -> Iterator[None]:
    """Shows an ApiError raised inside as a message and stops the page there."""
    try:
        yield
    except ApiError as exc:
        show_error(exc, what)
        st.stop()


# --- formatting ------------------------------------------------------------------------------------


def local_zone() -> tzinfo:
    """The browser's time zone when Streamlit knows it, else UTC."""
    name = getattr(st.context, "timezone", None)
    if name:
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def local_time(value: str | None) -> datetime | None:
    """A naive local datetime for tables (Streamlit shows naive times as they are)."""
    parsed = parse_time(value)
    return parsed.astimezone(local_zone()).replace(tzinfo=None) if parsed else None


def when(value: str | None) -> str:
    parsed = parse_time(value)
    if parsed is None:
        return "—"
    return parsed.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def between(start: str | None, end: str | None) -> float | None:
    a, b = parse_time(start), parse_time(end)
    if a is None:
        return None
    return ((b or datetime.now(UTC)) - a).total_seconds()


def size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "—"
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def score(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def money(value: float | None) -> str:
    if value is None:
        return "—"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def humanize(name: str) -> str:
    """`answer_relevancy` -> `Answer relevancy`."""
    return name.replace("_", " ").replace(".", " ").strip().capitalize()


STYLE = """
<style>
  [data-testid="stMainBlockContainer"] { padding-top: 2.5rem; padding-bottom: 3rem; }
  [data-testid="stMetricValue"] { font-size: 1.9rem; }
</style>
"""


def page_style() -> None:
    st.html(STYLE)


def page_header(title: str, caption: str | None = None) -> None:
    st.title(title, anchor=False)
    if caption:
        st.caption(caption)
