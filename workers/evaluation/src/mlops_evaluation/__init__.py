"""Candidate inference, RAGAS scoring on an LLM judge, and the MLScore gate that fails closed.

RAGAS reports usage analytics unless told not to; the worker never phones home, so the switch is set
before anything imports ragas.
"""

import os

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
