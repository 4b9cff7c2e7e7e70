"""A run's tags and note on its page: shown to everyone, edited by those whose role may
(PATCH /runs/{id}; each change is recorded in the run's timeline as a `run.annotated` step)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from mlops_contracts.api_client import ApiClient, ApiError
from mlops_ui import ui

CAN_ANNOTATE = "tag and annotate runs"
SAVED = "run_notes_saved"


def show(run: dict[str, Any]) -> None:
    tags = run.get("tags") or []
    if tags:
        st.markdown(" ".join(f":gray-badge[:material/sell: {tag}]" for tag in tags))
    if run.get("note"):
        st.markdown(f":material/sticky_note_2: {run['note']}")


def editor(client: ApiClient, run: dict[str, Any], known_tags: list[str]) -> None:
    if not ui.can(CAN_ANNOTATE):
        return
    run_id = run["id"]
    if message := st.session_state.pop(SAVED, None):
        st.success(message, icon=":material/check_circle:")
    with st.expander("Tags and note", icon=":material/sell:"), st.form(f"notes_{run_id}", border=False):
        tags = st.multiselect(
            "Tags",
            sorted({*known_tags, *(run.get("tags") or [])}),
            default=run.get("tags") or [],
            accept_new_options=True,
            max_selections=20,
            help="Short labels (letters, digits and _ . : / -), e.g. baseline, sweep:lr; type a new one",
            key=f"tags_{run_id}",
        )
        note = st.text_area("Note", value=run.get("note") or "", max_chars=4000, key=f"note_{run_id}")
        if st.form_submit_button("Save tags and note", icon=":material/save:"):
            try:
                client.annotate_run(run_id, tags=list(tags), note=note.strip() or None)
            except ApiError as exc:
                ui.show_error(exc, "The tags and note were not saved")
                return
            st.session_state[SAVED] = f"Saved the tags and note of run #{run_id}."
            st.rerun()
