"""The floor of every benchmark: what no client can beat on this machine.

- `decode_times`: the fastest untyped decode of the bytes received (``json``
  always; ``msgspec`` and ``orjson`` when present), timed with the garbage
  collector paused, as our clients decode;
- `streamed`: receiving an answer block by block (``iter_content``, as a
  client that does not hold the whole body does), optionally handing each
  block to a consumer in the receiving thread's place while the next one
  arrives (receive and decode overlapped: the real least of a streamed call).
"""

from __future__ import annotations

import gc
import importlib
import json
import queue
import threading
import time
from typing import Callable, Iterable, Iterator


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
