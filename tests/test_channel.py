from sim.channel import Channel, Overflow
from sim.clock import ManualClock


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
