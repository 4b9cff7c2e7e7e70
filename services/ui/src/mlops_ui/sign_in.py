"""Signing in (docs/decisions/0017-people-signed-in-at-the-load-balancer.md).

Behind the load balancer people are signed in by its OIDC action before the dashboard is reached;
the dashboard passes their signed identity on to the API, which verifies it (`ui.presented_identity`).
This screen shows only where no identity arrived or the API refused it: a link to `make dev`'s
local sign-in page (UI_SIGN_IN_URL) and, in `make dev` only (UI_API_KEY_SIGN_IN), an API key form.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from mlops_contracts.api_client import ApiError
from mlops_ui import ui
from mlops_ui.config import get_settings


def render(refused: ApiError | None = None) -> None:
    """`refused`: why the API did not accept the identity the dashboard received (expired...)."""
    settings = get_settings()
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(":material/rocket_launch: MLOps release platform", anchor=False)
        st.caption("Launch, follow, understand and approve LLM fine-tuning and evaluation runs.")
        if refused is not None:
            if refused.status_code in (401, 403):
                st.error(f"Your sign-in was not accepted: {refused.message}", icon=":material/person_off:")
            else:
                ui.show_error(refused, "Cannot sign in")
        if settings.sign_in_url:
            here = st.context.url or ""
            link = f"{settings.sign_in_url}?{urlencode({'next': here})}" if here else settings.sign_in_url
            st.markdown(f"#### [Sign in]({link})")
            st.caption(
                "`make dev`'s sign-in page: it plays the load balancer's sign-in for the local people."
            )
        elif refused is None:
            st.info(
                "No signed-in identity reached the dashboard: open it through the platform's load "
                "balancer, which signs you in with your identity provider.",
                icon=":material/login:",
            )
        if settings.api_key_sign_in:
            _api_key_form()
        st.caption(f"API: {settings.api_url}")


def _api_key_form() -> None:
    with st.form("sign_in", border=True):
        st.markdown("#### Sign in with an API key")
        key = st.text_input(
            "API key",
            type="password",
            placeholder="mlk_…",
            help="Development only: a key created by an admin (`mlops-api create-key`); `make dev` prints one.",
            key="sign_in_key",
        )
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if submitted:
        if not key.strip():
            st.error("Enter an API key.", icon=":material/key:")
            return
        try:
            with st.spinner("Checking the key with the API…"):
                ui.sign_in(key.strip())
        except ApiError as exc:
            if exc.status_code == 401:
                st.error(
                    "This API key was not accepted: it is unknown or revoked.", icon=":material/key_off:"
                )
            else:
                ui.show_error(exc, "Cannot sign in")
            return
        st.rerun()
