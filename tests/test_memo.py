"""The bounded memo table of the per-packet path."""

from __future__ import annotations

import pytest

from antibot.memo import Memo


def test_remembers_and_empties_itself_when_full() -> None:
    memo: Memo[str, int] = Memo(3)
    assert memo.get("a") is None
    assert memo.put("a", 1) == 1 and memo.get("a") == 1
    memo.put("b", 2)
    memo.put("c", 3)
    assert len(memo) == 3
    memo.put("d", 4)  # full: emptied first, so junk keys cannot grow it
    assert len(memo) == 1 and memo.get("a") is None and memo.get("d") == 4
    memo.put("d", 5)  # a known key is replaced
    assert memo.get("d") == 5 and len(memo) == 1
    memo.clear()
    assert len(memo) == 0


def test_a_memo_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError):
        Memo(0)
