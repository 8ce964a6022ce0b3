"""The background page reader: order, errors, bounded look-ahead, early stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from plugin.services.sync import Prefetch


def test_items_arrive_in_order_and_errors_after_them() -> None:
    def gen() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    with Prefetch(gen) as items:
        assert next(items) == 1
        assert next(items) == 2
        with pytest.raises(RuntimeError, match="page 3"):
            next(items)
        with pytest.raises(StopIteration):
            next(items)


def test_the_reader_stays_at_most_depth_items_ahead() -> None:
    produced: list[int] = []

    def gen() -> Iterator[int]:
        for n in range(100):
            produced.append(n)
            yield n

    with Prefetch(gen, depth=2) as items:
        assert next(items) == 0
        deadline = time.monotonic() + 2
        while len(produced) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        # one consumed, two queued, one in the reader's hands
        assert len(produced) <= 4


def test_leaving_early_closes_the_source_in_its_own_thread() -> None:
    closed = threading.Event()
    threads: list[str] = []

    def gen() -> Iterator[int]:
        try:
            n = 0
            while True:
                threads.append(threading.current_thread().name)
                yield n
                n += 1
        finally:
            closed.set()

    with Prefetch(gen) as items:
        assert next(items) == 0
    assert closed.wait(2)
    assert set(threads) == {"tandem-sync-reader"}


def test_an_empty_source_ends_at_once() -> None:
    with Prefetch(lambda: iter(())) as items:
        assert list(items) == []
