"""Closed-loop HTTP load generator: N clients, each with one keep-alive connection and one request
in flight at a time. Runs in its own process (`python bench/loadgen.py SPEC_JSON`) so that it never
shares an interpreter with the servers it measures; prints one JSON result on stdout.

SPEC: {"url", "method", "headers", "body" (str, optional; "{i}" and "{ts_ms}" are substituted per
request), "concurrency", "warmup_s", "duration_s" (or "requests": a fixed count, no measurement),
"stagger_s" (default 0.02: client n opens its connection n * stagger_s after the start)}.

Every latency of the measured window is kept; non-2xx answers and exceptions count as errors.
The measured window is marked on stderr (MEASURE_START / MEASURE_END lines).

Why the stagger: a multi-worker server (MLflow's uvicorn workers) shares one listening socket, and
the worker that wins the first accept takes a whole burst of connections in one go. Measured here
(MLflow on SQLite, runs/search, 4 s), 20 connections opened at once landed all on one of its two
workers in two runs of three (126-142 req/s, the other worker idle); opened 20 ms apart they spread
evenly in six of six (210-288 req/s). The clients are all up long before the warm-up ends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import resource
import sys
import time
from collections import Counter
from typing import Any

import aiohttp

MEASURE_START = "loadgen: measuring"
MEASURE_END = "loadgen: done"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in [0, 100])."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(q / 100 * len(sorted_values) + 0.5 - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    url: str = spec["url"]
    method: str = spec.get("method", "GET")
    headers: dict[str, str] = spec.get("headers", {})
    template: str | None = spec.get("body")
    dynamic = template is not None and ("{i}" in template or "{ts_ms}" in template)
    static_body = template.encode() if template is not None and not dynamic else None
    concurrency: int = spec.get("concurrency", 20)
    fixed_count: int | None = spec.get("requests")
    counter = itertools.count()

    measuring = False
    stop = False
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    exceptions: Counter[str] = Counter()
    error_samples: list[str] = []

    def body() -> bytes | None:
        if not dynamic:
            return static_body
        assert template is not None
        i = next(counter)
        return template.replace("{i}", str(i)).replace("{ts_ms}", str(int(time.time() * 1000))).encode()

    async def client(session: aiohttp.ClientSession, quota: int | None) -> None:
        done = 0
        while not stop and (quota is None or done < quota):
            data = body()
            start = time.perf_counter()
            try:
                async with session.request(method, url, data=data, headers=headers) as response:
                    payload = await response.read()
                    status = response.status
            except Exception as exc:
                if measuring:
                    exceptions[type(exc).__name__] += 1
                    if len(error_samples) < 3:
                        error_samples.append(f"{type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(0.01)  # a refused connection must not spin
                continue
            elapsed = time.perf_counter() - start
            done += 1
            if measuring:
                statuses[status] += 1
                if 200 <= status < 300:
                    latencies.append(elapsed)
                elif len(error_samples) < 3:
                    error_samples.append(f"HTTP {status}: {payload[:300]!r}")

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, skip_auto_headers=()) as session:
        if fixed_count is not None:
            share, extra = divmod(fixed_count, concurrency)
            quotas = [share + (1 if n < extra else 0) for n in range(concurrency)]
            started = time.perf_counter()
            measuring = True
            await asyncio.gather(*(client(session, q) for q in quotas))
            wall = time.perf_counter() - started
            return {"requests": sum(statuses.values()), "wall_s": wall, "statuses": dict(statuses)}

        async def staggered(n: int) -> None:
            await asyncio.sleep(n * spec.get("stagger_s", 0.02))
            await client(session, None)

        tasks = [asyncio.create_task(staggered(n)) for n in range(concurrency)]
        await asyncio.sleep(spec.get("warmup_s", 2.0))
        cpu0 = _cpu_seconds()
        started = time.perf_counter()
        measuring = True
        print(MEASURE_START, file=sys.stderr, flush=True)  # the bench samples CPU between the marks
        await asyncio.sleep(spec["duration_s"])
        measuring = False
        wall = time.perf_counter() - started
        print(MEASURE_END, file=sys.stderr, flush=True)
        cpu = _cpu_seconds() - cpu0
        stop = True
        await asyncio.gather(*tasks)

    latencies.sort()
    ok = len(latencies)
    errors = sum(n for s, n in statuses.items() if not 200 <= s < 300) + sum(exceptions.values())
    ms = [v * 1000 for v in latencies]
    return {
        "requests": ok + errors,
        "ok": ok,
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "exceptions": dict(exceptions),
        "error_samples": error_samples,
        "wall_s": wall,
        "rps": ok / wall if wall else 0.0,
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1] if ms else float("nan"),
        "loadgen_cpu_pct": 100 * cpu / wall if wall else 0.0,
    }


def main() -> int:
    spec = json.loads(sys.argv[1])
    try:
        import uvloop
    except ImportError:  # plain asyncio is fine, only a little slower
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
