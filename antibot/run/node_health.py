"""The node's verdict "every PBX dead", shared by its workers (``antibot run --workers N``).

Each worker keeps its own upstream health (probes, calls failed in a row). When one concludes by
the fail-fast rule that every target is dead (:meth:`~antibot.proxy.upstreams.UpstreamPool.all_dead`),
it writes into its slot of a shared array since when and until when that holds; when it hears a
target alive (any response, a successful probe) it writes when. Every worker reads every slot
when a new call comes: it answers 503 at once while a verdict holds that no worker's "alive" came
after. The times are the event loop's monotonic clock, one for every process of the machine.

A slot is three doubles written by one worker only (a double is written whole on the platforms
we run on: a reader sees the old value or the new). A worker that dies leaves its verdict to
expire at its "until", at most ``down_hold`` after its last failed call; the worker that takes its
index starts from that slot.
"""

from __future__ import annotations

from typing import Any

#: Doubles per worker: dead since, dead until, last heard alive (0: none).
HEALTH_FIELDS = 3


def make_health(ctx: Any, workers: int) -> Any:
    """The shared array for ``workers`` workers (``ctx``: a multiprocessing context), all zero."""
    return ctx.Array("d", workers * HEALTH_FIELDS, lock=False)


class SharedVerdicts:
    """One worker's view of the array: writes its own slot, reads everyone's
    (:class:`~antibot.proxy.upstreams.NodeHealth`)."""

    def __init__(self, array: Any, index: int, workers: int) -> None:
        if not 0 <= index < workers or len(array) < workers * HEALTH_FIELDS:
            raise ValueError("worker index outside the shared health array")
        self.array = array
        self.workers = workers
        self.base = index * HEALTH_FIELDS

    def publish_dead(self, since: float, until: float) -> None:
        self.array[self.base + 1] = until  # until first: a reader never sees a new "since" with an old "until"
        self.array[self.base] = since

    def publish_alive(self, at: float) -> None:
        a = self.array
        if a[self.base + 2] < at:
            a[self.base + 2] = at
        if a[self.base + 1]:
            a[self.base + 1] = 0.0

    def verdicts(self) -> list[tuple[float, float, float]]:
        v = self.array[: self.workers * HEALTH_FIELDS]  # one copy: read on every new call
        return list(zip(v[0::3], v[1::3], v[2::3], strict=True))
