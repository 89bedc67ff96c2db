"""Cancelling tasks that must end: a cancellation some libraries lose is sent again.

redis-py's asyncio client can swallow a ``CancelledError`` delivered while it connects (seen with
a pub/sub subscription cancelled within milliseconds of its start, on CPython 3.11.7): the task
then goes on and waits on the socket for ever, and whoever awaited it hangs (a worker's shutdown
after a failed start did). As anyio does, the cancellation is repeated until the task ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("antibot")

#: Seconds between two cancellations of a task that has not ended.
GRACE = 0.2
#: Cancellations sent before a task is given up on (logged, left to the loop's end).
ROUNDS = 25


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], grace: float = GRACE, rounds: int = ROUNDS) -> bool:
    """Cancel ``tasks`` and wait until each has ended, cancelling again every ``grace`` seconds
    those that have not; True when all ended. Their results and exceptions are retrieved (none
    is raised here), as ``gather(..., return_exceptions=True)`` does."""
    pending: set[asyncio.Future[Any]] = set()
    for task in tasks:
        if task.done():
            _retrieve(task)
        else:
            pending.add(task)
    for _ in range(rounds):
        if not pending:
            return True
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=grace)
        for task in done:
            _retrieve(task)
    if pending:
        log.error("tasks still running after %d cancellations", rounds, extra={"tasks": len(pending)})
    return not pending


def _retrieve(task: asyncio.Future[Any]) -> None:
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" at exit
