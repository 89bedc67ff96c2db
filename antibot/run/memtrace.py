"""A debugging aid for memory growth: ``ANTIBOT_TRACEMALLOC=<path>[:<frames>]`` starts
:mod:`tracemalloc` at start-up; every SIGUSR2 (and the exit) writes a snapshot to
``<path>.<pid>.<n>.snap`` and the allocator's statistics (:func:`sys._debugmallocstats`) to
``<path>.<pid>.<n>.mallocstats``, and the live objects by type and the big containers to
``<path>.<pid>.<n>.objects`` (``<frames>`` 0: those two only, no tracing). Off (not imported)
unless the variable is set: tracing slows the proxy several times over.

Compare two snapshots with::

    python -m antibot.run.memtrace OLD.snap NEW.snap [top]
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
import tracemalloc
from collections import Counter, deque
from types import FrameType

ENV = "ANTIBOT_TRACEMALLOC"


class _Dumper:
    def __init__(self, path: str) -> None:
        self.path = path
        self.n = 0

    def dump(self) -> None:
        self.n += 1
        base = f"{self.path}.{os.getpid()}.{self.n}"
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(base + ".snap")
        with open(base + ".objects", "w") as f:
            f.write(live_objects())
        fd = os.open(base + ".mallocstats", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        saved = os.dup(2)
        try:
            os.dup2(fd, 2)
            sys._debugmallocstats()  # writes to the C stderr
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(fd)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.dump()


def live_objects(top: int = 40, big: int = 2000) -> str:
    """The most numerous live types, and every container holding more than ``big`` items with
    the types of what refers to it."""
    freed = gc.collect()
    objs = gc.get_objects()
    lines = [f"gc.collect() freed {freed} objects in reference cycles"]
    lines += [f"{n:9d} {name}" for name, n in Counter(type(o).__qualname__ for o in objs).most_common(top)]
    for o in objs:
        if isinstance(o, (dict, list, set, deque)) and len(o) > big:
            owners = ", ".join(sorted({type(r).__qualname__ for r in gc.get_referrers(o) if r is not objs})[:6])
            lines.append(f"{type(o).__name__} of {len(o)} held by {owners}")
    del objs
    return "\n".join(lines) + "\n"


def install_from_env() -> bool:
    """Start tracing when ``ANTIBOT_TRACEMALLOC`` is set; True if it was."""
    spec = os.environ.get(ENV, "")
    if not spec:
        return False
    path, _, frames = spec.partition(":")
    if int(frames or 1) > 0:  # 0: object counts and allocator statistics only
        tracemalloc.start(int(frames or 1))
    dumper = _Dumper(path)
    signal.signal(signal.SIGUSR2, dumper.on_signal)
    atexit.register(dumper.dump)
    return True


def compare(old: str, new: str, top: int = 25) -> str:
    """The ``top`` allocation sites that grew most from snapshot ``old`` to ``new``."""
    a, b = tracemalloc.Snapshot.load(old), tracemalloc.Snapshot.load(new)
    frames = len(b.traces[0].traceback) if b.traces else 1
    key = "traceback" if frames > 1 else "lineno"
    lines = [f"total {sum(s.size for s in b.statistics('filename')) / 2**20:.1f} MiB"]
    for stat in b.compare_to(a, key)[:top]:
        grew, now = stat.size_diff / 2**20, stat.size / 2**20
        lines.append(f"{grew:+8.2f} MiB {stat.count_diff:+9d} blocks  now {now:7.2f} MiB")
        lines.extend("    " + line for line in stat.traceback.format()[-2 * frames :])
    return "\n".join(lines)


if __name__ == "__main__":
    print(compare(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 25))
