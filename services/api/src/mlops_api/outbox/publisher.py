"""EventBridge PutEvents from the event loop, for the outbox relay.

Why not boto3's `put_events` here: it is a blocking call, so the relay ran it in a thread, and
that thread competed with the request loop for the GIL (a thread that holds it keeps it for up to
5 ms, and the loop gives it up at every system call); and it costs 3.4 ms of CPU per call in
botocore (event hooks, validation, user agent, http.client). This call runs on the event loop,
with no thread; a batch of 10 costs 0.9 ms of CPU on a kept-alive connection, and 2.2 ms against
the emulator, which closes every connection. botocore still does what must be exactly right: the
endpoint (`AWS_ENDPOINT_URL` included) and region of the client the one factory builds, the
credential chain and its refreshes, the SigV4 signature. Only the JSON body and the HTTP exchange
(aiohttp, keep-alive pool) are done here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_TARGET = "AWSEvents.PutEvents"
_CONTENT_TYPE = "application/x-amz-json-1.1"  # EventBridge speaks AWS JSON 1.1
_SIGNING_NAME = "events"


class PublishError(RuntimeError):
    """EventBridge could not be reached or refused the whole call."""


def put_events_body(entries: list[dict[str, Any]]) -> bytes:
    """The PutEvents request body. `Time` may be a datetime: sent as epoch seconds, as botocore
    serialises timestamps for JSON protocols."""
    wire = [
        {**entry, "Time": int(entry["Time"].timestamp())}
        if isinstance(entry.get("Time"), datetime)
        else entry
        for entry in entries
    ]
    return orjson.dumps({"Entries": wire})


class EventBridgePublisher:
    def __init__(
        self,
        *,
        endpoint_url: str,
        region: str,
        credentials: Credentials,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
    ) -> None:
        self._url = endpoint_url.rstrip("/") + "/"
        self._region = region
        self._credentials = credentials
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_client(cls, client: Any, credentials: Credentials) -> EventBridgePublisher:
        """Publish where `client` (a boto3 EventBridge client) would: same endpoint and region."""
        return cls(
            endpoint_url=client.meta.endpoint_url, region=client.meta.region_name, credentials=credentials
        )

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        request = AWSRequest(
            "POST", self._url, data=body, headers={"Content-Type": _CONTENT_TYPE, "X-Amz-Target": _TARGET}
        )
        # Frozen once per call: a refreshable credential renews itself here when it is about to expire.
        SigV4Auth(self._credentials.get_frozen_credentials(), _SIGNING_NAME, self._region).add_auth(request)
        return dict(request.headers.items())

    async def put_events(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """One PutEvents call; returns its response as boto3 would (`FailedEntryCount`, `Entries`
        in the order of `entries`). Raises PublishError when the call as a whole failed."""
        body = put_events_body(entries)
        headers = self._signed_headers(body)
        if self._session is None:
            # Created on first use: a ClientSession belongs to the running event loop.
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self._url, data=body, headers=headers) as response:
                payload = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise PublishError(
                f"Could not connect to EventBridge at {self._url}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            answer = orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError:
            answer = {}
        if status != 200 or not isinstance(answer.get("Entries"), list):
            # AWS JSON errors: {"__type": "...#ThrottlingException", "message": "..."}
            code = str(answer.get("__type", f"HTTP {status}")).rsplit("#", 1)[-1]
            message = answer.get("message") or answer.get("Message") or payload[:300].decode(errors="replace")
            raise PublishError(f"PutEvents refused ({code}): {message}")
        return answer

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
