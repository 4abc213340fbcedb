"""The floor of every benchmark: what no client can beat on this machine.

- `decode_times`: the fastest untyped decode of the bytes received (``json``
  always; ``msgspec`` and ``orjson`` when present), timed with the garbage
  collector paused, as our clients decode;
- `streamed`: receiving an answer block by block (``iter_content``, as a
  client that does not hold the whole body does), optionally handing each
  block to a consumer in the receiving thread's place while the next one
  arrives (receive and decode overlapped: the real least of a streamed call);
- `fetched_and_decoded`: the floor of a call of several requests (pages):
  the same requests with the same number in flight, each body decoded by
  the thread that received it while the other requests are under way, one
  clock from the first request until the last body is decoded, for each
  decoder at hand. Never a receive time and a decode time added: the two
  overlap in any client that has several requests in flight.
"""

from __future__ import annotations

import gc
import importlib
import json
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Sequence


def decoders() -> dict[str, Callable[[bytes], object]]:
    """The untyped JSON decoders installed here, by name."""
    found: dict[str, Callable[[bytes], object]] = {"json": json.loads}
    for name in ("msgspec", "orjson"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found[name] = module.json.decode if name == "msgspec" else module.loads
    return found


def decode_times(bodies: Iterable[bytes], inspect: Callable[[list], object] | None = None,
                 only: Iterable[str] | None = None) -> dict:
    """Seconds each decoder takes over all ``bodies``; with ``inspect``, also ``inspect(decoded)`` of the last.

    Returns ``{"json": s, "msgspec": s, ...}`` (``only`` these names, when
    given), plus ``"inspected"`` when ``inspect`` is given.
    """
    bodies = list(bodies)
    times: dict = {}
    for name, decode in decoders().items():
        if only is not None and name not in only:
            continue
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        decoded = [decode(b) for b in bodies]
        times[name] = time.perf_counter() - started
        gc.enable()
        if inspect is not None:
            times["inspected"] = inspect(decoded)
        del decoded
    return times


def streamed(response, consume: Callable[[Iterator[bytes]], object] | None = None,
             block: int = 1 << 20) -> tuple[object, float]:
    """Receive ``response`` (opened with ``stream=True``) in blocks: ``(result, seconds)``.

    Without ``consume`` the result is the list of blocks. With it, a thread
    receives while ``consume`` (given an iterator of the blocks) works in this
    thread: the result is what it returns, the time that of both overlapped.
    """
    started = time.perf_counter()
    if consume is None:
        blocks = list(response.iter_content(block))
        return blocks, time.perf_counter() - started
    waiting: queue.Queue = queue.Queue(8)
    end = object()

    def pump():
        try:
            for piece in response.iter_content(block):
                waiting.put(piece)
        finally:
            waiting.put(end)

    def blocks():
        while (piece := waiting.get()) is not end:
            yield piece

    threading.Thread(target=pump, daemon=True).start()
    result = consume(blocks())
    return result, time.perf_counter() - started


def fetched_and_decoded(fetch: Callable[[object], bytes], jobs: Sequence, workers: int, runs: int = 2) -> dict:
    """The floor of a call of ``len(jobs)`` requests, ``workers`` in flight, for each decoder at hand.

    ``fetch(job)`` sends one request and returns its body. Each decoder's
    run: ``workers`` threads take the jobs in turn, each decoding a body as
    soon as it has received it (with the collector paused, as our clients
    decode), timed from the first request until the last body is decoded;
    the best of ``runs``. With one job, receive and decode follow each other
    (no decoder at hand parses a JSON document before its end).

    Returns ``{"seconds": {decoder: s}, "fastest": name, "bytes": total body size}``.
    """
    seconds: dict[str, float] = {}
    size = 0
    for name, decode in decoders().items():
        def one(job, decode=decode):
            body = fetch(job)
            decode(body)
            return len(body)

        for _ in range(runs):
            gc.collect()
            gc.disable()
            try:
                started = time.perf_counter()
                if workers > 1 and len(jobs) > 1:
                    with ThreadPoolExecutor(workers) as pool:
                        size = sum(pool.map(one, jobs))
                else:
                    size = sum(map(one, jobs))
                elapsed = time.perf_counter() - started
            finally:
                gc.enable()
            seconds[name] = min(seconds.get(name, elapsed), elapsed)
    return {"seconds": seconds, "fastest": min(seconds, key=seconds.get), "bytes": size}


def best_rounds(results: Iterable[dict]) -> dict:
    """Several `fetched_and_decoded` results (rounds taking turns with the clients') as one: the best of each."""
    results = list(results)
    seconds = {name: min(r["seconds"][name] for r in results) for name in results[0]["seconds"]}
    return {"seconds": seconds, "fastest": min(seconds, key=seconds.get), "bytes": results[-1]["bytes"]}
