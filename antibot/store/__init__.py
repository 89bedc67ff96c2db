"""Shared counters, the call log and an embedded Redis.

Only :mod:`antibot.store.redis` imports the ``redis`` client library; this package and
its other modules stay importable without it.
"""

from __future__ import annotations


class StoreError(Exception):
    """The store could not complete an operation (Redis unreachable, timed out or refused)."""
