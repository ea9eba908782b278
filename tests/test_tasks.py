"""cancel_and_wait ends every task it is given and skips None."""

from __future__ import annotations

import asyncio

from router.tasks import cancel_and_wait


async def test_cancels_and_waits_for_every_task() -> None:
    cleaned: list[int] = []

    async def forever(n: int) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append(n)

    tasks = [asyncio.create_task(forever(n)) for n in range(3)]
    await asyncio.sleep(0)
    await cancel_and_wait([tasks[0], None, *tasks[1:]])
    assert all(task.done() for task in tasks)
    assert sorted(cleaned) == [0, 1, 2]  # each task's cleanup ran before we returned


async def test_already_finished_tasks_are_fine() -> None:
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await cancel_and_wait([done])
    assert done.done() and not done.cancelled()
