"""A real Redis for the training tests, and small simulated datasets shared by the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from antibot.store.embedded import EmbeddedRedis, EmbeddedRedisError
from antibot.train.dataset import EVAL_START, TRAIN_START, Dataset, SimConfig, build_dataset

#: Small simulations: enough rows of every profile active on a Tuesday afternoon (train) and a
#: Wednesday morning (evaluation) to fit tiny models in well under a second.
SMALL_TRAIN = SimConfig(seed=1, duration=600.0, start=TRAIN_START)
SMALL_EVAL = SimConfig(seed=2, duration=600.0, start=EVAL_START)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One real redis-server for the session; a missing binary is a failure, never a skip."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), extra_args=("--appendonly", "no"))
    try:
        server.start()
    except EmbeddedRedisError as exc:
        pytest.fail(f"the training tests need a real Redis: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def url(redis_server: EmbeddedRedis) -> str:
    """The session server's URL (every replay flushes its database first)."""
    return redis_server.url


@pytest.fixture(scope="session")
def small_train(url: str) -> Dataset:
    return build_dataset(SMALL_TRAIN, url)


@pytest.fixture(scope="session")
def small_eval(url: str) -> Dataset:
    return build_dataset(SMALL_EVAL, url)
