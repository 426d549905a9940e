import threading
import time

import pytest

from sim.core.channel import Channel, Overflow
from sim.core.clock import ManualClock, RealClock


def test_drop_oldest_keeps_newest(clock: ManualClock) -> None:
    ch: Channel[int] = Channel(clock, capacity=3, policy=Overflow.DROP_OLDEST)
    results = [ch.put(i) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert ch.take_all() == [2, 3, 4]
    st = ch.stats
    assert (st.put, st.dropped, st.delivered, st.peak_depth) == (5, 2, 3, 3)


def test_drop_newest_keeps_queued(clock: ManualClock) -> None:
    ch: Channel[int] = Channel(clock, capacity=2, policy="drop_newest")
    for i in range(4):
        ch.put(i)
    assert ch.take_all() == [0, 1]
    assert ch.stats.dropped == 2
    assert ch.stats.put == 4


def test_block_waits_until_timeout_then_drops(clock: ManualClock) -> None:
    ch: Channel[int] = Channel(clock, capacity=1, policy=Overflow.BLOCK)
    assert ch.put(1, block_until=0.5)
    assert ch.put(2, block_until=0.5) is False  # nobody takes: waits to 0.5, then drops
    assert clock.now() == 0.5
    assert ch.stats.dropped == 1
    assert ch.take_newest() == 1


def test_take_newest_counts_superseded_not_dropped(clock: ManualClock) -> None:
    ch: Channel[int] = Channel(clock, capacity=8)
    for i in range(4):
        ch.put(i)
    assert ch.take_newest() == 3
    assert ch.take_newest() is None
    st = ch.stats
    assert (st.delivered, st.superseded, st.dropped, st.depth, st.peak_depth) == (1, 3, 0, 0, 4)


def test_wait_for_put_sees_a_put(clock: ManualClock) -> None:
    ch: Channel[int] = Channel(clock, capacity=2)
    seen = ch.version()
    ch.put(7)
    assert ch.wait_for_put(seen, 1.0) is True
    assert clock.now() == 0.0


def test_block_put_goes_in_when_a_consumer_makes_room() -> None:
    clock = RealClock()
    ch: Channel[int] = Channel(clock, capacity=1, policy=Overflow.BLOCK)
    assert ch.put(1)
    taker = threading.Timer(0.05, ch.take_newest)
    taker.start()
    assert ch.put(2, block_until=clock.now() + 5.0) is True  # waits for the take, not the 5 s
    taker.join()
    assert clock.now() < 2.0
    assert ch.take_all() == [2]
    st = ch.stats
    assert (st.put, st.delivered, st.dropped, st.peak_depth) == (2, 2, 0, 1)


@pytest.mark.parametrize("policy", list(Overflow))
def test_concurrent_puts_and_takes_keep_the_books(policy: Overflow) -> None:
    """Producers and a consumer on real threads: every item put is delivered, dropped, superseded or queued."""
    clock = RealClock()
    ch: Channel[int] = Channel(clock, capacity=3, policy=policy)
    per_thread, taken = 1000, []
    done = threading.Event()

    def produce(base: int) -> None:
        for i in range(per_thread):
            ch.put(base + i, block_until=clock.now() + 0.001)

    def consume() -> None:
        while not done.is_set():
            item = ch.take_newest()
            if item is not None:
                taken.append(item)
            else:
                time.sleep(0)  # let a producer (perhaps blocked for room) run
        taken.extend(ch.take_all())

    threads = [threading.Thread(target=produce, args=(k * per_thread,)) for k in range(3)]
    consumer = threading.Thread(target=consume)
    consumer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    consumer.join()
    st = ch.stats
    assert st.put == 3 * per_thread
    assert st.delivered == len(taken) and len(set(taken)) == len(taken)
    assert st.delivered + st.dropped + st.superseded == st.put
    assert st.depth == len(ch) == 0 and 1 <= st.peak_depth <= 3
