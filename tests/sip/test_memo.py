"""The bounded memo (antibot.sip.memo)."""

from __future__ import annotations

from antibot.sip.memo import Memo


def test_remembers_what_it_was_given() -> None:
    memo: Memo[str, int] = Memo(4)
    assert memo.get("a") is None
    assert memo.put("a", 1) == 1
    assert memo.get("a") == 1
    assert len(memo) == 1


def test_forgets_everything_when_full_and_never_grows_beyond_its_limit() -> None:
    memo: Memo[int, int] = Memo(3)
    for i in range(3):
        memo.put(i, i * 10)
    assert [memo.get(i) for i in range(3)] == [0, 10, 20]
    memo.put(3, 30)  # full: cleared first
    assert len(memo) == 1
    assert memo.get(0) is None and memo.get(3) == 30
    for i in range(100):
        memo.put(i, i)
        assert len(memo) <= 3
