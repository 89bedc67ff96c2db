"""The status antibot answered a refused call with, as the call log entry has it: in the listing
and the detail (the dashboard's "rejected by antibot (603)"), absent for every other call."""

from __future__ import annotations

import time

from fastapi import FastAPI

from .conftest import VIEWER, call_entry, client, store


async def test_reject_status_from_the_entry(app: FastAPI, url: str) -> None:
    now = time.time()
    entries = [
        call_entry(0, now - 4, verdict="reject", status="603"),
        call_entry(1, now - 3, verdict="reject", status="486", rule="busy-here"),
        call_entry(2, now - 2, verdict="reject"),  # logged before the status was: none, never a guess
        call_entry(3, now - 1, verdict="pass"),
        call_entry(4, now, verdict="reject", status="9999"),  # out of the SIP range: dropped
    ]
    async with store(url) as s:
        await s.log_calls(entries, 100_000)
    async with client(app, VIEWER) as c:
        r = await c.get("/api/v1/calls", params={"verdict": "reject,pass"})
        assert r.status_code == 200, r.text
        got = {item["call"]: item["status"] for item in r.json()["items"]}
        assert got == {e["call"]: s for e, s in zip(entries, (603, 486, None, None, None), strict=True)}
        detail = (await c.get(f"/api/v1/calls/{entries[0]['call']}")).json()
        assert (detail["status"], detail["outcome"]) == (603, None)
