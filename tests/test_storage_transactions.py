"""A message's handling writes all or nothing, on both databases; a failed one blocks no later writer."""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest

from bot.store import Store


async def test_a_unit_that_fails_leaves_nothing_and_the_next_one_writes(store: Store):
    now = time.time()
    with pytest.raises(RuntimeError):
        async with store.unit():
            conv = await store.start_conversation("mp", "o_a", "甲", now)
            await store.update_conversation(conv.id, agent="小李")
            assert (await store.open_conversation("mp", "o_a")) is not None  # sees its own writes
            raise RuntimeError("the handler failed")
    assert await store.open_conversation("mp", "o_a") is None
    assert await store.load() == {}
    async with store.unit():  # the write lock (SQLite) was given back
        await store.start_conversation("mp", "o_b", "乙", now)
    await store.touch((await store.open_conversation("mp", "o_b")).id, now + 1)
    assert [c.customer for c in await store.open_conversations()] == ["o_b"]


async def test_a_unit_that_has_only_read_so_far_holds_up_no_other_writer(store: Store):
    async with store.unit():
        assert await store.open_conversation("mp", "o_a") is None
        # another message's handling, outside this unit (a context of its own), writes meanwhile
        other = asyncio.create_task(
            store.start_conversation("mp", "o_c", "丙", time.time()), context=contextvars.Context()
        )
        await asyncio.wait_for(other, 2)
        await store.start_conversation("mp", "o_a", "甲", time.time())
    assert sorted(c.customer for c in await store.open_conversations()) == ["o_a", "o_c"]


async def test_a_read_while_another_unit_is_writing_sees_only_what_was_committed(store: Store):
    now = time.time()
    await store.start_conversation("mp", "o_a", "甲", now)
    written, release = asyncio.Event(), asyncio.Event()

    async def handling() -> None:  # another message's handling, its transaction still open
        async with store.unit():
            await store.start_conversation("mp", "o_b", "乙", now)
            written.set()
            await release.wait()

    other = asyncio.create_task(handling(), context=contextvars.Context())
    try:
        await asyncio.wait_for(written.wait(), 2)
        # outside it: what was committed, not what is being written, and without waiting for it
        assert await asyncio.wait_for(store.open_conversation("mp", "o_a"), 1) is not None
        assert await asyncio.wait_for(store.open_conversation("mp", "o_b"), 1) is None
    finally:
        release.set()
        await other
    assert await store.open_conversation("mp", "o_b") is not None


async def test_the_open_conversation_and_the_survey_awaiting_a_rating_in_one_read(store: Store):
    """What survey.answer reads for every text: each of the two found apart from the other."""
    now = time.time()
    assert await store.open_and_survey_pending("mp", "o_a", now - 600) == (None, None)
    first = await store.start_conversation("mp", "o_a", "甲", now)
    opened, pending = await store.open_and_survey_pending("mp", "o_a", now - 600)
    assert (opened.id, pending) == (first.id, None)
    await store.close_conversation(first.id, now)
    await store.update_conversation(first.id, survey_sent_at=now)
    opened, pending = await store.open_and_survey_pending("mp", "o_a", now - 600)
    assert (opened, pending.id) == (None, first.id)
    assert await store.open_and_survey_pending("mp", "o_a", now + 1) == (None, None)  # asked too long ago
    second = await store.start_conversation("mp", "o_a", "甲", now + 5)  # writes again before rating
    opened, pending = await store.open_and_survey_pending("mp", "o_a", now - 600)
    assert (opened.id, pending.id) == (second.id, first.id)
    assert opened == await store.open_conversation("mp", "o_a")
    assert pending == await store.survey_pending("mp", "o_a", now - 600)
    await store.update_conversation(first.id, rating_text="")  # answered (or not a rating): asked no more
    assert (await store.open_and_survey_pending("mp", "o_a", now - 600))[1] is None
    assert (await store.open_and_survey_pending("mp", "o_b", now - 600)) == (None, None)  # another customer
