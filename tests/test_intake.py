"""Callbacks first (bot.intake): while answering callbacks takes much of the loop, the bus's
consumers start their messages one at a time, a turn apart; otherwise they never wait, and
nothing is lost."""

from __future__ import annotations

import asyncio
import re

import pytest

import bot.intake
from adapters.sandbox import Sandbox
from bot.bus import MemoryBus
from bot.intake import HEAVY, MAX_TURN, WINDOW, Intake


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def answer(intake: Intake, clock: FakeClock, took: float, then_idle: float, cpu: FakeClock | None = None) -> None:
    """One callback answered in `took` seconds, then the loop does other things for `then_idle`
    (with a `cpu` of its own, the loop is busy only while answering; else all the time)."""
    with intake.callback():
        clock.now += took
        if cpu is not None:
            cpu.now += took
    clock.now += then_idle


def test_heavy_only_while_callbacks_take_more_than_their_share_of_the_loop():
    clock = FakeClock()
    intake = Intake(0.05, clock=clock, cpu=clock)
    assert not intake.heavy()
    # a steady trickle: a callback every 10 ms, answered in 0.3 ms (3 %): never heavy
    for _ in range(30):
        answer(intake, clock, 0.0003, 0.0097)
        assert not intake.heavy()
    # a burst: answered back to back with a little work between (75 %), heavy once a window is full
    for _ in range(int(WINDOW / 0.0004) + 1):
        answer(intake, clock, 0.0003, 0.0001)
    assert intake.heavy()
    # the burst is over: no callback for a whole window, and the consumers go at once
    clock.now += WINDOW
    assert not intake.heavy()


def test_callbacks_that_overlap_without_a_gap_stay_heavy_however_long_they_last():
    """On a loaded machine a burst's callbacks overlap: one is always in hand, none is ever the
    last. The burst is measured while it lasts, not only once every callback has been answered."""
    clock = FakeClock()
    intake = Intake(0.05, clock=clock, cpu=clock)
    answer(intake, clock, 0.0003, 10.0)  # quiet before
    with intake.callback():  # held throughout, while others come and go beside it
        for step in range(int(5 * WINDOW / 0.002)):  # five windows long
            with intake.callback():
                clock.now += 0.002
            if step * 0.002 >= WINDOW / 5:
                assert intake.heavy(), step
    clock.now += WINDOW * 1.01  # all answered, then a whole window without one
    assert not intake.heavy()


def test_a_burst_after_a_quiet_spell_is_heavy_within_a_fifth_of_a_window():
    clock = FakeClock()
    intake = Intake(0.05, clock=clock, cpu=clock)
    answer(intake, clock, 0.0003, 10.0)  # one callback, then ten quiet seconds
    steps = 0
    while not intake.heavy():  # back-to-back callbacks, 75 % of the loop
        answer(intake, clock, 0.0003, 0.0001)
        steps += 1
    assert steps * 0.0004 <= WINDOW / 5 + 2 * 0.0004  # (the first callback ends the quiet window)


def test_callbacks_waiting_on_redis_or_an_api_leave_the_loop_free_and_do_not_count():
    wall, cpu = FakeClock(), FakeClock()
    intake = Intake(0.05, clock=wall, cpu=cpu)
    for _ in range(200):  # each in hand for 1 ms, 0.05 ms of it on the loop
        with intake.callback(), intake.callback():  # and two at once count once
            wall.now += 0.001
            cpu.now += 0.00005
        wall.now += 0.0001
    assert not intake.heavy()


def test_just_above_the_share_is_heavy_and_just_below_is_not():
    for share, heavy in ((HEAVY * 0.9, False), (HEAVY * 1.1, True)):
        clock = FakeClock()
        intake = Intake(0.05, clock=clock, cpu=clock)
        for _ in range(200):
            answer(intake, clock, 0.001 * share, 0.001 * (1 - share))
        assert intake.heavy() is heavy, share


async def test_under_a_heavy_intake_the_consumers_take_turns_and_each_message_is_handled():
    clock, cpu, waited = FakeClock(), FakeClock(), []
    intake = Intake(0.05, waited=waited.append, clock=clock, cpu=cpu)
    for _ in range(200):  # a burst: heavy, and the loop 80 % busy, with room: the configured turn
        answer(intake, clock, 0.0008, 0.0002, cpu)
    handled: list[int] = []

    async def handler(payload: dict) -> None:
        handled.append(payload["n"])

    bus = MemoryBus(partitions=3)
    bus.give_way = intake.give_way
    bus.subscribe("t", handler)
    await bus.start()
    try:
        for n, key in enumerate(("a", "b", "g")):  # keys on three partitions (0, 2, 1): three consumers at once
            await bus.publish("t", key, {"n": n})
        for _ in range(20):  # many turns of the loop: every consumer waits for its turn
            await asyncio.sleep(0)
        assert handled == []
        await bus.drain(5)  # yet each is handled, one turn after the other
        assert sorted(handled) == [0, 1, 2]
        assert sorted(waited) == pytest.approx([0.05, 0.10, 0.15], abs=0.01)
        clock.now += WINDOW  # no callback for a whole window: the next one goes at once
        await bus.publish("t", "a", {"n": 3})
        for _ in range(20):
            await asyncio.sleep(0)
        assert handled[-1] == 3 and len(waited) == 3
    finally:
        await bus.close()


def burst(intake: Intake, clock: FakeClock, cpu: FakeClock, windows: int, busy: float) -> list[float]:
    """Callbacks taking 60 % of the loop for `windows` windows, the loop `busy` in all; the turn after each."""
    turns = []
    for _ in range(windows):
        for _ in range(int(WINDOW / 0.001)):
            answer(intake, clock, 0.0006, 0.0004, cpu)
            cpu.now += 0.001 * busy - 0.0006  # the consumers' share
        intake.heavy()
        turns.append(intake._turn)
    return turns


def test_while_the_loop_is_full_the_turn_lengthens_and_once_it_has_room_it_shortens_again():
    clock, cpu = FakeClock(), FakeClock()
    intake = Intake(0.005, clock=clock, cpu=cpu)
    # consumers on a 5 ms turn fill what the callbacks leave: the turn doubles each window, to MAX_TURN
    assert burst(intake, clock, cpu, 6, busy=0.97) == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.1, 0.1])
    assert burst(intake, clock, cpu, 2, busy=0.85) == pytest.approx([0.1, 0.1])  # neither full nor with room
    # the consumers held back, the loop has room: halves each window, down to the configured turn
    assert burst(intake, clock, cpu, 6, busy=0.62) == pytest.approx([0.05, 0.025, 0.0125, 0.00625, 0.005, 0.005])
    burst(intake, clock, cpu, 4, busy=1.0)
    clock.now += WINDOW  # the burst is over: the next one starts from the configured turn
    assert not intake.heavy() and intake._turn == 0.005


async def test_however_full_the_loop_the_consumers_still_take_a_message_every_max_turn():
    clock, cpu, waited = FakeClock(), FakeClock(), []
    intake = Intake(0.005, waited=waited.append, clock=clock, cpu=cpu)
    burst(intake, clock, cpu, 10, busy=1.0)
    await asyncio.gather(*(intake.give_way() for _ in range(3)))  # three consumers at once
    assert sorted(waited) == pytest.approx([MAX_TURN, 2 * MAX_TURN, 3 * MAX_TURN], abs=0.01)


async def test_consumers_whose_turns_are_far_off_go_as_soon_as_the_burst_is_over():
    """Turns lengthen while the loop is full; once the callbacks stop, the backlog must not wait
    for five consumers' turns, 100 ms apart, to come round one by one."""
    clock, cpu, waited = FakeClock(), FakeClock(), []
    intake = Intake(0.005, waited=waited.append, clock=clock, cpu=cpu)
    burst(intake, clock, cpu, 10, busy=1.0)
    consumers = [asyncio.create_task(intake.give_way()) for _ in range(5)]  # turns at 0.1 ... 0.5 s
    await asyncio.sleep(0.02)
    clock.now += WINDOW  # no callback for a whole window: the burst is over
    await asyncio.wait_for(asyncio.gather(*consumers), 0.35)
    assert max(waited) < 0.3, waited
    assert intake._next == float("-inf")  # and the next burst's turns start from now


async def test_off_when_set_to_zero():
    clock = FakeClock()
    intake = Intake(0.0, clock=clock, cpu=clock)
    for _ in range(200):
        answer(intake, clock, 0.001, 0.0)
    assert intake.heavy()
    await asyncio.wait_for(intake.give_way(), 0.01)  # returns at once


async def gave_way(sb: Sandbox) -> float:
    async with sb.http.get(sb.base_url + "/metrics") as r:
        text = await r.text()
    return float(re.search(r"^kefu_bus_gave_way_seconds_count (\S+)$", text, re.M).group(1))


async def test_one_customer_at_a_time_is_relayed_without_waiting(local_sandbox: Sandbox):
    sb = local_sandbox
    for k in range(3):
        assert (await sb.write(f"o_c{k}", "你好,请问发货了吗"))[0] == 200
        await sb.settle()
    assert await gave_way(sb) == 0
    assert sum("你好,请问发货了吗" in t for u in ("lixiaoli", "wangxiaowang") for t in sb.wecom.texts_to(u)) == 3


async def test_a_burst_of_callbacks_is_all_answered_and_all_relayed_while_the_workers_give_way(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
):
    sb = sandbox
    monkeypatch.setattr(bot.intake, "HEAVY", 0.0)  # any callback makes the intake heavy: they must wait
    lines = [f"o_burst{k} 第{n}句" for k in range(8) for n in range(4)]  # 8 customers: the agents' capacity
    answers = await asyncio.gather(*(sb.write(line.split()[0], line) for line in lines))
    assert all(status == 200 for status, _ in answers)
    await sb.settle(30)
    assert await gave_way(sb) > 0  # the consumers did wait
    relayed = [t for u in ("lixiaoli", "wangxiaowang") for t in sb.wecom.texts_to(u)]
    for line in lines:  # and every message reached an agent, once
        assert sum(line in t for t in relayed) == 1, line
