"""The local Teams channel of `make dev`: an HTTP endpoint that stands in for a Teams incoming webhook.

The Teams formatter posts its Adaptive Cards exactly as in production, to the URL held by the
Terraform-declared secret `mlops/teams-webhook`; `make dev` puts this inbox's URL there (or
TEAMS_WEBHOOK_URL, to post to a real channel). Each card is appended to `.local/teams-inbox.jsonl`
and summed up in one terminal line with its links, so an approval link can be opened from there.

http.server is enough here: one local client, a few requests a minute, no dependency to add.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mlops_devstack.local_secrets import write_private

TEAMS_WEBHOOK_SECRET_ID = "mlops/teams-webhook"  # noqa: S105 (a secret name, not a value)
MAX_BODY_BYTES = 1 << 20  # Teams refuses messages over about 28 KB; a megabyte is plenty


def _texts(elements: Any) -> Iterator[str]:
    """The TextBlock texts of a card body, containers included, in reading order."""
    for element in elements if isinstance(elements, list) else []:
        if not isinstance(element, dict):
            continue
        if element.get("type") == "TextBlock" and isinstance(element.get("text"), str):
            yield element["text"]
        for nested in ("items", "columns"):
            yield from _texts(element.get(nested))


def summarize(message: dict[str, Any]) -> str:
    """One line for the terminal: the card's title and its links."""
    attachments = message.get("attachments") or [{}]
    card = attachments[0].get("content") or {}
    title = next(_texts(card.get("body")), "(a card without text)")
    links = [
        f"{action.get('title', 'link')}: {action['url']}"
        for action in card.get("actions") or []
        if isinstance(action, dict) and action.get("url")
    ]
    return " | ".join([title, *links])


class TeamsInbox:
    """A webhook on 127.0.0.1 that keeps every card it receives."""

    def __init__(self, path: Path, *, say: Callable[[str], None] = print, port: int = 0) -> None:
        self.path = path
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer(413, "message too large")
                    return
                try:
                    message = json.loads(self.rfile.read(length))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    self._answer(400, "the body is not JSON")
                    return
                if not isinstance(message, dict) or not isinstance(message.get("attachments"), list):
                    self._answer(400, "not a Teams message: no attachments list")
                    return
                inbox.receive(message)
                self._answer(200, "1")  # what a Teams incoming webhook answers

            def _answer(self, status: int, text: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one summary line per card is printed instead

        self._say = say
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def start(self) -> TeamsInbox:
        # The cards hold live approval links: readable by their owner only, like the key files.
        write_private(self.path, "", append=True)
        self._thread.start()
        return self

    def receive(self, message: dict[str, Any]) -> None:
        with self._lock, self.path.open("a") as out:
            out.write(json.dumps(message) + "\n")
        self._say(f"Teams: {summarize(message)}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
