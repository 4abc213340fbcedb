"""The decoding half of every benchmark's floor: the fastest untyped decode of the bytes received.

A benchmark's floor is what no client can beat on this machine: receiving the
answer's bytes (a bare ``requests`` loop) plus decoding them with the fastest
general JSON decoder at hand. `decode_times` times each decoder that is
installed (``json`` always; ``msgspec`` and ``orjson`` when present) with the
garbage collector paused, as our clients decode.
"""

from __future__ import annotations

import gc
import importlib
import json
import time
from typing import Callable, Iterable


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


def decode_times(bodies: Iterable[bytes], inspect: Callable[[list], object] | None = None) -> dict:
    """Seconds each decoder takes over all ``bodies``; with ``inspect``, also ``inspect(decoded)`` of the last.

    Returns ``{"json": s, "msgspec": s, ...}``, plus ``"inspected"`` when ``inspect`` is given.
    """
    bodies = list(bodies)
    times: dict = {}
    for name, decode in decoders().items():
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
