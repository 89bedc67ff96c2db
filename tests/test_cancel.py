"""Cancelling tasks that must end (``antibot/cancel.py``): a lost cancellation is sent again."""

from __future__ import annotations

import asyncio

from antibot.cancel import cancel_and_wait
from antibot.store.redis import Store


async def test_a_task_that_loses_its_first_cancellation_is_cancelled_again_until_it_ends() -> None:
    lost = asyncio.Event()

    async def loses_one() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            lost.set()  # swallowed, as redis-py swallows one delivered while it connects
        await asyncio.sleep(60)

    task = asyncio.get_running_loop().create_task(loses_one())
    await asyncio.sleep(0)
    assert not await cancel_and_wait([task], grace=0.05, rounds=1)  # one cancellation: still running
    assert lost.is_set() and not task.done()
    assert await cancel_and_wait([task], grace=0.05)
    assert task.cancelled()


async def test_ended_tasks_have_their_exceptions_retrieved_and_nothing_is_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    loop = asyncio.get_running_loop()
    failed, slow = loop.create_task(fails()), loop.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    assert await cancel_and_wait([failed, slow])
    assert isinstance(failed.exception(), RuntimeError) and slow.cancelled()


async def test_a_policy_subscription_cancelled_as_it_starts_always_ends(url: str) -> None:
    """A subscription to the policy channel cancelled within 3 ms of its start: with CPython
    3.11.7, redis-py lost about 1 in 6 such cancellations (the task then waited on its socket for
    ever, and a worker whose start failed never exited)."""

    async def follow(store: Store) -> None:
        async for _ in store.policy_changes():
            pass

    store = await Store.connect(url)
    loop = asyncio.get_running_loop()
    try:
        for i in range(30):
            task = loop.create_task(follow(store))
            await asyncio.sleep(i * 0.0001)
            assert await cancel_and_wait([task]), f"cancelled after {i * 0.1:.1f} ms"
    finally:
        await store.close()
