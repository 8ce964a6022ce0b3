"""End to end against the independent SuccessFactors fake (fakes.successfactors) on 127.0.0.1.

The fake is written against SAP's documented behaviour, traps included (repeated rows
across pages, the implicit active-only filter, faults); the connector and the sink must
work with it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.successfactors import SuccessFactorsConnector, SuccessFactorsSink
from connectors.successfactors.auth import TokenCache
from plugin.errors import ConnectorUnavailable
from plugin.ports import ConnectionConfig, OutboundMessage, TargetConfig
from plugin.records import InvalidRecord, PersonRecord
from tests.connectors.successfactors.conftest import KeyPair, Waits

fake = pytest.importorskip("fakes.successfactors")


@pytest.fixture
def tenant(keypair: KeyPair) -> Iterator[tuple[Any, str]]:
    tenant = fake.FakeTenant(company_id="ACME", base_url=None)
    tenant.register_client(client_id="tandem", certificate_pem=keypair.cert_pem, user_id="sfadmin")
    tenant.generate_users(n=1200, seed=7, inactive_share=0.05)
    tenant.generate_skills(seed=7)
    server = fake.serve_in_thread(fake.create_app(tenant), host="127.0.0.1", port=0)
    try:
        yield tenant, server.url
    finally:
        server.shutdown()


def config(keypair: KeyPair, url: str) -> ConnectionConfig:
    return ConnectionConfig(
        org_id=1,
        connection_id=3,
        name="sf",
        kind="successfactors",
        settings={
            "base_url": url,
            "company_id": "ACME",
            "client_id": "tandem",
            "user_id": "sfadmin",
            "learning_url": url,
            "page_size": 500,
        },
        credentials={"private_key": keypair.key_pem, "certificate": keypair.cert_pem},
    )


def test_full_and_delta_sync_with_the_traps(keypair: KeyPair, tenant: tuple[Any, str]) -> None:
    fake_tenant, url = tenant
    fake_tenant.duplicate_rows_across_pages = True
    fake_tenant.faults.add(path_prefix="/odata/v2/User", status=503, times=1)
    fake_tenant.faults.add(path_prefix="/odata/v2/User", status=429, retry_after=2, times=1)
    waits = Waits()
    source = SuccessFactorsConnector(config(keypair, url), sleep=waits, token_cache=TokenCache())
    source.check()
    records = [r for page in source.iter_people() for r in page]
    people = [r for r in records if isinstance(r, PersonRecord)]
    assert not [r for r in records if isinstance(r, InvalidRecord)]
    ids = {p.external_id for p in people}
    assert len(ids) == 1200  # repeats across pages are only repeats
    assert any(not p.active for p in people)  # leavers are read (status in 't','f')
    assert sum(1 for p in people if p.manager_external_id is None) >= 1
    assert all(p.manager_external_id in ids for p in people if p.manager_external_id)
    assert 2.0 in waits.waits  # Retry-After honoured

    changed = set(fake_tenant.touch_random(share=0.02, seed=3))
    since = datetime.now(UTC) - timedelta(minutes=5)
    delta = {r.external_id for page in source.iter_people(since=since) for r in page}
    assert changed <= delta

    skills = [r for page in source.iter_skills() for r in page]
    ratings = [r for page in source.iter_person_skills() for r in page]
    assert skills
    assert ratings
    assert not [r for r in skills + ratings if isinstance(r, InvalidRecord)]


def test_write_back_waits_out_an_outage_and_arrives_once(
    keypair: KeyPair, tenant: tuple[Any, str]
) -> None:
    fake_tenant, url = tenant
    conn = config(keypair, url)
    source = SuccessFactorsConnector(conn, token_cache=TokenCache())
    person = next(
        r for page in source.iter_people() for r in page if isinstance(r, PersonRecord) and r.active
    )
    skill = next(r for page in source.iter_skills() for r in page)
    identity = {"successfactors:3": person.external_id}
    base: dict[str, Any] = {"program": {"id": 7, "name": "GenAI basics"}, "role": "mentee"}
    completion = OutboundMessage(
        id=1,
        org_id=1,
        kind="completion",
        target="sf",
        idempotency_key="completion:p7:e1:sf",
        payload={
            **base,
            "person": {"id": 1, "identities": identity},
            "completed_at": "2026-08-30T10:00:00+00:00",
            "minutes": 300,
        },
        attempt=1,
    )
    gain = replace(
        completion,
        id=2,
        kind="skill_gain",
        idempotency_key="skill_gain:p7:e1:a5:sf",
        payload={
            **base,
            "person": {"id": 1, "identities": identity},
            "gains": [{"post": 4, "identities": {"successfactors:3": skill.external_id}}],
        },
    )
    target = TargetConfig(org_id=1, name="sf", sink="successfactors", connection_id=3)

    def sink() -> SuccessFactorsSink:
        return SuccessFactorsSink(
            target, config_loader=lambda _t: conn, sleep=Waits(), token_cache=TokenCache()
        )

    fake_tenant.faults.learning_outage(times=1)
    outcomes = sink().deliver_batch([completion, gain])
    assert isinstance(outcomes[0], ConnectorUnavailable)
    assert outcomes[1] is None
    assert fake_tenant.learning_events == []

    # The outbox retries; then a worker crash makes it deliver once more.
    assert sink().deliver_batch([replace(completion, attempt=2)]) == [None]
    assert sink().deliver_batch([replace(completion, attempt=3)]) == [None]
    (event,) = fake_tenant.learning_events
    assert event["studentID"] == person.external_id
    assert event["totalHours"] == 5.0
    rated = fake_tenant.rated_skill_mappings
    rows = [
        v
        for k, v in rated.items()
        if k[0] == person.external_id and v.get("skill") == skill.external_id
    ]
    assert len(rows) == 1
    assert rows[0]["selfRatedLevel_defaultValue"] == "4"


def test_per_record_learning_failure_is_reported_not_taken_for_success(
    keypair: KeyPair, tenant: tuple[Any, str]
) -> None:
    fake_tenant, url = tenant
    conn = config(keypair, url)
    source = SuccessFactorsConnector(conn, token_cache=TokenCache())
    known = [
        r.external_id
        for page in source.iter_people()
        for r in page
        if isinstance(r, PersonRecord) and r.active
    ][:2]
    students = [known[0], "ghost-user", known[1]]
    messages = [
        OutboundMessage(
            id=i,
            org_id=1,
            kind="completion",
            target="sf",
            idempotency_key=f"completion:p7:e{i}:sf",
            payload={
                "program": {"id": 7, "name": "GenAI basics"},
                "person": {"id": i, "identities": {"successfactors:3": student}},
                "completed_at": "2026-08-30T10:00:00+00:00",
                "minutes": 60,
            },
            attempt=1,
        )
        for i, student in enumerate(students)
    ]
    sink = SuccessFactorsSink(
        TargetConfig(org_id=1, name="sf", sink="successfactors", connection_id=3),
        config_loader=lambda _t: conn,
        sleep=Waits(),
        token_cache=TokenCache(),
    )
    outcomes = sink.deliver_batch(messages)
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert outcomes[1] is not None
    assert "ghost-user" not in str(outcomes[1])
    assert sorted(e["studentID"] for e in fake_tenant.learning_events) == sorted(known)
