"""Client-side pacing under the judge's quota, and the retry policy for transient judge errors.

Bedrock meters on-demand models in requests per minute and tokens per minute. Sending as fast as
possible and backing off on ThrottlingException wastes time in backoff sleeps and can exhaust the
retries (unscored samples); pacing to the quota keeps every call useful. The limiter holds two token
buckets (requests, tokens) refilled continuously, `burst_seconds` deep. A throttling error that gets
through anyway (another client shares the quota, the estimate was low) lowers the pace
multiplicatively; each success raises it back additively (AIMD).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException", "Throttling"}
)
TRANSIENT_CODES = THROTTLING_CODES | frozenset(
    {
        "ModelNotReadyException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelTimeoutException",
    }
)


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


def is_transient(exc: BaseException) -> bool:
    if error_code(exc) in TRANSIENT_CODES:
        return True
    return isinstance(
        exc, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError | ConnectionClosedError
    )


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters a token); corrected by the usage the judge reports."""
    return max(1, math.ceil(len(text) / 4))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 0.5
    max_seconds: float = 20.0


class QuotaLimiter:
    """Async pacing of calls under requests/minute and tokens/minute. Use from one event loop."""

    DECREASE = 0.7
    INCREASE = 0.005
    MIN_FACTOR = 0.05

    def __init__(
        self,
        rpm: float,
        tpm: float,
        *,
        burst_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rpm <= 0 or tpm <= 0:
            raise ValueError("rpm and tpm must be positive")
        self._rps = rpm / 60.0
        self._tps = tpm / 60.0
        self._req_cap = max(1.0, self._rps * burst_seconds)
        self._tok_cap = max(1.0, self._tps * burst_seconds)
        self._clock = clock
        self._req = self._req_cap
        self._tok = self._tok_cap
        self._stamp = clock()
        self._factor = 1.0
        self._last_decrease = -math.inf
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._mutex = threading.Lock()
        self.expected_output_tokens = 256.0
        self.waited_seconds = 0.0

    @property
    def factor(self) -> float:
        return self._factor

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._req = min(self._req_cap, self._req + elapsed * self._rps * self._factor)
        self._tok = min(self._tok_cap, self._tok + elapsed * self._tps * self._factor)

    def _try_take(self, tokens: int) -> float:
        """Take one request and `tokens` if available (0.0), else the seconds to wait."""
        with self._mutex:
            self._refill()
            need_tokens = min(float(tokens), self._tok_cap)
            if self._req >= 1.0 and self._tok >= need_tokens:
                self._req -= 1.0
                self._tok -= tokens  # a call larger than the bucket runs into debt, paid by waiting
                return 0.0
            wait_req = (1.0 - self._req) / (self._rps * self._factor) if self._req < 1.0 else 0.0
            wait_tok = (
                (need_tokens - self._tok) / (self._tps * self._factor) if self._tok < need_tokens else 0.0
            )
            return max(wait_req, wait_tok, 0.001)

    async def acquire(self, tokens: int) -> None:
        """Wait until one more call of about `tokens` tokens fits under the quota (FIFO)."""
        async with self._async_lock():
            while (wait := self._try_take(tokens)) > 0:
                self.waited_seconds += wait
                await asyncio.sleep(wait)

    def settle(self, estimated: int, actual: int, output_tokens: int | None = None) -> None:
        """Correct the token bucket with the usage the judge reported."""
        with self._mutex:
            self._tok = min(self._tok_cap, self._tok + estimated - actual)
            if output_tokens is not None:
                self.expected_output_tokens = 0.9 * self.expected_output_tokens + 0.1 * output_tokens

    def on_success(self) -> None:
        with self._mutex:
            self._factor = min(1.0, self._factor + self.INCREASE)

    def on_throttled(self) -> None:
        """The judge refused a call for quota: slow down (once per second at most) and drain the bucket."""
        with self._mutex:
            now = self._clock()
            if now - self._last_decrease >= 1.0:
                self._factor = max(self.MIN_FACTOR, self._factor * self.DECREASE)
                self._last_decrease = now
            self._req = min(self._req, 0.0)
