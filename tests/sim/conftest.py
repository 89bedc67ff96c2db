"""Session-wide simulated runs (generation is deterministic, so they are shared)."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite(f"{__package__}._support")

from antibot.sim import SimEvent  # noqa: E402

from ._support import run  # noqa: E402


@pytest.fixture(scope="session")
def hour() -> tuple[SimEvent, ...]:
    """The default hour: every profile, seed 1, from the default start (Tue 14:13 site time)."""
    return run(None, 3600.0, 1)


@pytest.fixture(scope="session")
def day() -> tuple[SimEvent, ...]:
    """A whole day of every profile at a quarter of the volume."""
    return run(None, 86400.0, 2, 0.25)
