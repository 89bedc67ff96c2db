"""The plumbing shared by the four transaction state machines: status classes (RFC 3261 §7.2)."""

from __future__ import annotations

import pytest

from antibot.transaction._base import status_class


@pytest.mark.parametrize(
    ("status", "expected"), [(100, "1xx"), (199, "1xx"), (200, "2xx"), (299, "2xx"), (300, "3xx-6xx"), (699, "3xx-6xx")]
)
def test_status_classes(status: int, expected: str) -> None:
    assert status_class(status) == expected


@pytest.mark.parametrize("status", [0, 99, 700, -200])
def test_a_code_outside_100_699_is_refused(status: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        status_class(status)
