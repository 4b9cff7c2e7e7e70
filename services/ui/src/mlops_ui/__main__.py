"""`python -m mlops_ui [--port 8501] [--address 127.0.0.1] [streamlit options...]`: serve the
dashboard with Streamlit (the API it talks to is API_URL, default http://127.0.0.1:8000)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlops_ui", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("UI_PORT", "8501")))
    parser.add_argument("--address", default=os.environ.get("UI_ADDRESS", "127.0.0.1"))
    args, rest = parser.parse_known_args(argv)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        f"--server.port={args.port}",
        f"--server.address={args.address}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        *rest,
    ]
    os.execv(sys.executable, command)  # noqa: S606 (our own interpreter running Streamlit)


if __name__ == "__main__":
    main()
