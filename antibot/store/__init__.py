"""Shared counters, the call log and an embedded Redis.

Only :mod:`antibot.store.redis` imports the ``redis`` client library (the admin API's side);
the SIP path talks to Redis through :mod:`antibot.store.wire` (a lean RESP connection, hiredis
parsing) driven by :mod:`antibot.store.hotpath`. Key names: :mod:`antibot.store.keys`.
"""

from __future__ import annotations


class StoreError(Exception):
    """The store could not complete an operation (Redis unreachable, timed out or refused)."""
