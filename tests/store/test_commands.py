"""The sync's write commands: :func:`write_resp` is exactly ``pack(write_commands(...))``."""

from __future__ import annotations

import random

from antibot.detect.counting import PLANS, LocalCounters
from antibot.detect.observation import Observation
from antibot.detect.windowed import Delta
from antibot.store.commands import pack, write_batch, write_commands, write_resp

T0 = 472_222 * 3600.0 + 59.9  # just before a minute's end: deltas to two buckets


def _deltas(seed: int) -> list[Delta]:
    """A sync's batch after random traffic over a bucket boundary (entities seen once or more)."""
    rng = random.Random(seed)
    local = LocalCounters()
    for i in range(60):
        to = rng.choice(("442079460011", f"1555123{i:04d}", "caf\xe9", "a b%{}"))
        obs = Observation(
            rng.choice(("192.0.2.1", "2001:db8::1", "")),
            rng.choice(("alice", f"caller{i}", "", "b\xfccher", "x" * 120)),
            to,
            to[:5],
            rng.choice(("ua1", "ua2", "")),
        )
        local.observe(obs, T0 + rng.random() * 0.2)
    return local.take(T0 + 0.25)


def test_write_resp_is_the_packed_write_commands() -> None:
    checked = 0
    for seed in range(20):
        for delta in _deltas(seed):
            resp = write_resp(delta)
            commands = write_commands(delta)
            if resp is None:
                continue
            text, n = resp
            assert text.encode("ascii") == pack(commands)
            assert n == len(commands)
            checked += 1
    assert checked > 100


def test_what_write_resp_leaves_to_write_commands() -> None:
    source = next(p for p in PLANS if p.keep)
    local = LocalCounters()
    local.observe(Observation("192.0.2.1", "alice", "caf\xe9", "", ""), T0)
    batch = {d.entity.plan.kind: d for d in local.take(T0 + 0.1)}
    assert write_resp(batch[source.kind]) is None  # the source's recent To list
    assert write_resp(batch["from"]) is None  # a member (the To number) is not ASCII
    assert write_resp(batch["to"]) is not None  # its key is %-encoded: ASCII


def test_write_batch_writes_every_write_only_delta_once() -> None:
    for seed in range(5):
        batch = _deltas(seed)
        text, n, other = write_batch(batch)
        written = [d for d in batch if not d.read]
        assert any(d.read for d in batch) and written  # entities seen again are read, not written here
        fast = [r for r in map(write_resp, written) if r is not None]
        assert text == "".join(t for t, _ in fast) and n == sum(k for _, k in fast)
        assert other == [c for d in written if write_resp(d) is None for c in write_commands(d)]
        assert n + len(other) == sum(len(write_commands(d)) for d in written)
