"""The node's upstream health, shared by its workers (``antibot run --workers N``).

Each worker keeps its own upstream health (probes, calls failed in a row) and shares two things
through one array in shared memory, a slot per worker:

- **A target marked down**: when a call's attempt fails on a PBX (timeout or 503) and the worker
  marks it down, it writes when and until when (``down_hold``); the other workers skip that PBX
  too until then, so one dead PBX costs the node one failed attempt, not one per worker. When a
  worker hears a target alive (any response, a successful probe) it writes when: every mark made
  before that is void.
- **Every target dead**: when a worker concludes by the fail-fast rule that every target is dead
  (:meth:`~antibot.proxy.upstreams.UpstreamPool.all_dead`), it writes since when and until when
  that holds, and when it heard any target alive. Every worker reads every slot when a new call
  comes: it answers 503 at once while a verdict holds that no worker's "alive" came after.

The times are the event loop's monotonic clock, one for every process of the machine. A field is
a double written by one worker only (a double is written whole on the platforms we run on: a
reader sees the old value or the new). A worker that dies leaves its marks to expire at their
"until", at most ``down_hold`` after its last failed call; the worker that takes its index starts
from that slot.
"""

from __future__ import annotations

from typing import Any

#: Doubles per worker for the verdict "every target dead": dead since, dead until, last heard alive (0: none).
HEALTH_FIELDS = 3
#: Doubles per worker and target: marked down at, down until, last heard alive (0: none).
TARGET_FIELDS = 3


def health_size(workers: int, targets: int) -> int:
    """Doubles in the array of ``workers`` workers and ``targets`` PBX targets."""
    return workers * (HEALTH_FIELDS + TARGET_FIELDS * targets)


def make_health(ctx: Any, workers: int, targets: int = 0) -> Any:
    """The shared array for ``workers`` workers and ``targets`` targets, all zero (``ctx``: a
    multiprocessing context)."""
    return ctx.Array("d", health_size(workers, targets), lock=False)


class SharedVerdicts:
    """One worker's view of the array: writes its own slot, reads everyone's
    (:class:`~antibot.proxy.upstreams.NodeHealth`)."""

    def __init__(self, array: Any, index: int, workers: int, targets: int = 0) -> None:
        if not 0 <= index < workers or len(array) < health_size(workers, targets):
            raise ValueError("worker index outside the shared health array")
        self.array = array
        self.workers = workers
        self.targets = targets
        self.stride = HEALTH_FIELDS + TARGET_FIELDS * targets
        self.base = index * self.stride

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
        v, stride = self.array[: self.workers * self.stride], self.stride  # one copy: read on every new call
        return list(zip(v[0::stride], v[1::stride], v[2::stride], strict=True))

    def _target(self, target: int) -> int:
        if not 0 <= target < self.targets:
            raise IndexError("no such target in the shared health array")
        return self.base + HEALTH_FIELDS + TARGET_FIELDS * target

    def publish_down(self, target: int, at: float, until: float) -> None:
        i = self._target(target)
        self.array[i + 1] = until  # until first, as in publish_dead
        self.array[i] = at

    def publish_target_alive(self, target: int, at: float) -> None:
        i = self._target(target) + 2
        if self.array[i] < at:
            self.array[i] = at

    def target_marks(self, target: int) -> list[tuple[float, float, float]]:
        i = self._target(target) - self.base
        v, stride = self.array[: self.workers * self.stride], self.stride
        return list(zip(v[i::stride], v[i + 1 :: stride], v[i + 2 :: stride], strict=True))
