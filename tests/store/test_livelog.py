"""LiveLog fans chunks out to every subscriber in order, with keep-alives and bounded buffers."""

from __future__ import annotations

import threading

from runner.server.livelog import LiveLog


def test_subscribers_get_published_chunks_in_order():
    hub = LiveLog()
    first = hub.subscribe(7, timeout=1)
    second = hub.subscribe(7, after_seq=0, timeout=1)
    hub.publish(7, 0, ["a", "b"])
    hub.publish(7, 1, b"c\nd\n")
    hub.publish(8, 0, ["other step"])
    hub.end(7)
    assert list(first) == [(0, ["a", "b"], None), (1, ["c", "d"], None)]
    assert list(second) == [(1, ["c", "d"], None)]
    assert hub.subscribers(7) == 0


def test_idle_subscription_yields_keepalive_none():
    hub = LiveLog()
    with hub.subscribe(1, timeout=0.05) as sub:
        assert next(sub) is None
        hub.publish(1, 0, ["x"])
        assert next(sub) == (0, ["x"], None)
    assert hub.subscribers(1) == 0


def test_slow_subscriber_keeps_the_newest_chunks_within_its_bound():
    hub = LiveLog(max_chunks=10, max_bytes=1_000_000)
    sub = hub.subscribe(1, timeout=0.05)
    for seq in range(1000):
        hub.publish(1, seq, [f"line {seq}"])
    hub.end(1)
    got = [seq for seq, _lines, _elapsed in sub]
    assert got == list(range(990, 1000))
    assert sub.dropped == 990


def test_byte_bound_drops_oldest_chunks():
    hub = LiveLog(max_chunks=1000, max_bytes=10_000)
    sub = hub.subscribe(1, timeout=0.05)
    for seq in range(100):
        hub.publish(1, seq, ["x" * 999])
    hub.end(1)
    got = [seq for seq, _lines, _elapsed in sub]
    assert got == list(range(90, 100))


def test_publish_and_consume_from_several_threads():
    hub = LiveLog()
    subs = [hub.subscribe(3, timeout=5) for _ in range(4)]
    results: list[list[int]] = [[] for _ in subs]

    def consume(i):
        for seq, _lines, _elapsed in subs[i]:
            results[i].append(seq)

    readers = [threading.Thread(target=consume, args=(i,)) for i in range(len(subs))]
    for t in readers:
        t.start()
    for seq in range(200):
        hub.publish(3, seq, [str(seq)])
    hub.end(3)
    for t in readers:
        t.join(10)
    assert all(r == list(range(200)) for r in results)


def test_close_from_another_thread_ends_iteration():
    hub = LiveLog()
    sub = hub.subscribe(5, timeout=10)
    threading.Timer(0.05, sub.close).start()
    assert list(sub) == []
