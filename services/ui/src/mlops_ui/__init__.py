"""Streamlit dashboard of the MLOps platform: launch, follow, understand and approve runs.

It talks only to the HTTP API (API_URL), signed in with an API key."""
