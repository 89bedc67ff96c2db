"""Store tests: a polling helper (the session Redis and ``url``: tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest


async def until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``cond`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.005)
