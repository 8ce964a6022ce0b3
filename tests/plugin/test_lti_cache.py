"""The shared LTI store: TTL, single-use add_if_absent, purge; visible to every host."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from plugin.errors import ValidationError
from plugin.models import LtiCacheEntry
from plugin.services.lti_cache import LtiCache
from tests.conftest import PG_URL, wipe


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(db_session: Session, clock: Clock) -> LtiCache:
    return LtiCache(db_session, clock=clock)


def test_set_get_overwrite_and_delete(cache: LtiCache) -> None:
    assert cache.get("state-1") is None
    assert cache.get("state-1", "dflt") == "dflt"
    cache.set("state-1", {"nonce": "n", "params": [1, 2]}, ttl=300)
    assert cache.get("state-1") == {"nonce": "n", "params": [1, 2]}
    cache.set("state-1", "second", ttl=timedelta(minutes=5))
    assert cache.get("state-1") == "second"
    assert cache.delete("state-1") is True
    assert cache.delete("state-1") is False
    assert cache.get("state-1") is None


def test_entries_expire_after_their_ttl(cache: LtiCache, clock: Clock) -> None:
    cache.set("launch-1", {"a": 1}, ttl=60)
    clock.advance(59.9)
    assert cache.get("launch-1") == {"a": 1}
    clock.advance(0.1)
    assert cache.get("launch-1") is None


def test_set_renews_the_expiry(cache: LtiCache, clock: Clock) -> None:
    cache.set("k", 1, ttl=10)
    clock.advance(9)
    cache.set("k", 2, ttl=10)
    clock.advance(9)
    assert cache.get("k") == 2


def test_add_if_absent_succeeds_once(cache: LtiCache) -> None:
    assert cache.add_if_absent("nonce:abc", True, ttl=120) is True
    assert cache.add_if_absent("nonce:abc", True, ttl=120) is False
    assert cache.add_if_absent("nonce:abc", "other", ttl=120) is False
    assert cache.get("nonce:abc") is True


def test_add_if_absent_takes_over_an_expired_entry(
    cache: LtiCache, clock: Clock, db_session: Session
) -> None:
    assert cache.add_if_absent("nonce:abc", "first", ttl=60)
    clock.advance(61)
    assert cache.add_if_absent("nonce:abc", "second", ttl=60) is True
    assert cache.get("nonce:abc") == "second"
    assert cache.add_if_absent("nonce:abc", "third", ttl=60) is False
    rows = db_session.execute(select(LtiCacheEntry.key, LtiCacheEntry.expires_at)).all()
    assert rows == [("nonce:abc", clock.now + timedelta(seconds=60))]


def test_purge_expired(cache: LtiCache, clock: Clock) -> None:
    cache.set("short", 1, ttl=10)
    cache.set("long", 2, ttl=100)
    assert cache.purge_expired() == 0
    clock.advance(10)
    assert cache.purge_expired() == 1
    assert cache.get("long") == 2
    assert cache.delete("short") is False


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_bad_keys(cache: LtiCache, key: str) -> None:
    with pytest.raises(ValidationError, match="1–255"):
        cache.set(key, 1, ttl=1)


@pytest.mark.parametrize("ttl", [0, -5, timedelta(0), float("nan")])
def test_bad_ttl(cache: LtiCache, ttl: float | timedelta) -> None:
    with pytest.raises(ValidationError, match="ttl"):
        cache.add_if_absent("k", 1, ttl=ttl)
    assert cache.get("k") is None


@pytest.fixture
def shared(engine: Engine) -> Iterator[Engine]:
    yield engine
    wipe(engine)


def test_committed_entries_are_seen_by_another_host(shared: Engine) -> None:
    with Session(shared) as host_a:
        LtiCache(host_a).set("state-x", {"from": "a"}, ttl=300)
        host_a.commit()
    with Session(shared) as host_b:
        assert LtiCache(host_b).get("state-x") == {"from": "a"}
        assert LtiCache(host_b).add_if_absent("state-x", 1, ttl=300) is False


@pytest.mark.skipif(not PG_URL, reason="concurrent writers need PostgreSQL")
def test_concurrent_add_if_absent_has_one_winner(shared: Engine) -> None:
    barrier = threading.Barrier(4)
    results: list[bool] = []
    errors: list[BaseException] = []

    def use_nonce() -> None:
        try:
            with Session(shared) as s:
                barrier.wait(timeout=10)
                results.append(LtiCache(s).add_if_absent("nonce:race", True, ttl=60))
                s.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=use_nonce) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(results) == [False, False, False, True]
