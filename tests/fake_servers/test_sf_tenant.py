"""The SuccessFactors fake's data model and generator."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fakes.successfactors import FakeTenant
from fakes.successfactors.odata import to_ms


@pytest.fixture(scope="module")
def generated() -> FakeTenant:
    tenant = FakeTenant(company_id="ACME")
    tenant.generate_users(n=3000, seed=11, inactive_share=0.03)
    return tenant


def test_generator_builds_one_org_tree(generated: FakeTenant) -> None:
    users = {u["userId"]: u for u in generated.users_snapshot()}
    assert len(users) == 3000
    roots = [uid for uid, u in users.items() if u["_manager"] is None]
    assert len(roots) == 1
    for user in users.values():  # every chain reaches the root without a cycle
        seen: set[str] = set()
        current: dict[str, Any] | None = user
        while current is not None and current["_manager"] is not None:
            assert current["userId"] not in seen
            seen.add(current["userId"])
            current = users.get(current["_manager"])
        assert current is not None
        assert current["userId"] == roots[0]
    assert len(generated.direct_reports(roots[0])) == 8  # the division heads
    spans = Counter(u["_manager"] for u in users.values() if u["_manager"])
    assert max(spans.values()) <= 20


def test_generator_fields_and_blemishes(generated: FakeTenant) -> None:
    users = generated.users_snapshot()
    statuses = Counter(u["status"] for u in users)
    assert set(statuses) == {"t", "f"}
    assert 40 < statuses["f"] < 150
    assert len({u["username"] for u in users}) == 3000
    emails = [u["email"] for u in users if u["email"]]
    assert len({e.lower() for e in emails}) == len(emails)
    assert any(e != e.lower() for e in emails)  # mixed case, as real tenants have
    assert any(u["email"] is None for u in users) or any(u["jobTitle"] == "" for u in users)
    assert len({u["division"] for u in users}) == 9  # 8 divisions + executive
    assert len({u["department"] for u in users if u["department"]}) > 20
    now = generated.now_ms()
    assert all(u["hireDate"] < now and u["lastModifiedDateTime"] < now for u in users)
    assert all(u["hireDate"] % 86_400_000 == 0 for u in users)  # Edm.DateTime: midnight
    titles = Counter(u["jobTitle"].split(" ")[0] for u in users if u["jobTitle"])
    assert titles["Junior"] > 100
    assert titles["Senior"] > 100


def test_generator_is_deterministic() -> None:
    a, b = FakeTenant(), FakeTenant()
    a.generate_users(n=200, seed=4)
    b.generate_users(n=200, seed=4)
    strip = (
        "lastModifiedDateTime",
        "lastModified",
        "lastModifiedWithTZ",
        "hireDate",
        "origHireDate",
    )

    def shape(tenant: FakeTenant) -> list[dict[str, Any]]:
        return [{k: v for k, v in u.items() if k not in strip} for u in tenant.users_snapshot()]

    assert shape(a) == shape(b)


def test_small_and_empty_generation() -> None:
    tenant = FakeTenant()
    assert tenant.generate_users(n=0) == []
    ids = tenant.generate_users(n=5, seed=1)
    assert len(ids) == 5
    more = tenant.generate_users(n=5, seed=2)
    assert len(set(ids) | set(more)) == 10


def test_add_update_remove(generated: FakeTenant) -> None:
    tenant = FakeTenant(clock=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    tenant.add_user({"userId": "m", "firstName": "Mo", "lastName": "Ma"})
    tenant.add_user(
        {"userId": "r", "manager": {"userId": "m"}, "hireDate": datetime(2020, 5, 1, tzinfo=UTC)}
    )
    user = tenant.get_user("r")
    assert user is not None
    assert user["manager"] == "m"
    assert user["status"] == "t"
    assert user["hireDate"] == to_ms("2020-05-01")
    assert tenant.get_user("m")["defaultFullName"] == "Mo Ma"  # type: ignore[index]
    version = tenant.version
    tenant.clock = lambda: datetime(2025, 2, 1, tzinfo=UTC)
    tenant.update_user("r", status="f", manager=None)
    updated = tenant.get_user("r")
    assert updated is not None
    assert updated["status"] == "f"
    assert updated["manager"] is None
    assert updated["lastModifiedDateTime"] == to_ms("2025-02-01T00:00:00Z")
    assert tenant.version > version
    with pytest.raises(ValueError, match="exists"):
        tenant.add_user({"userId": "r"})
    with pytest.raises(ValueError, match="userId"):
        tenant.add_user({"firstName": "no id"})
    with pytest.raises(KeyError):
        tenant.update_user("ghost", status="t")
    tenant.remove_user("r")
    assert tenant.get_user("r") is None


def test_touch_random() -> None:
    tenant = FakeTenant()
    tenant.generate_users(n=500, seed=1)
    before = {u["userId"]: dict(u) for u in tenant.users_snapshot()}
    touched = tenant.touch_random(share=0.02, seed=9)
    assert len(touched) == len(set(touched)) == 10
    for user_id in touched:
        after = tenant.get_user(user_id)
        assert after is not None
        assert after["location"] != before[user_id]["location"]
        assert after["lastModifiedDateTime"] > before[user_id]["lastModifiedDateTime"]
    again = FakeTenant()
    again.generate_users(n=500, seed=1)
    assert again.touch_random(share=0.02, seed=9) == touched


def test_skills_and_ratings() -> None:
    tenant = FakeTenant()
    tenant.add_user({"userId": "u1"})
    tenant.add_skill("SK1", "Prompting", name_de_DE="Prompten")
    tenant.rate_skill("u1", "SK1", 2)
    tenant.rate_skill("u1", "SK1", 4, rater="manager")
    row = tenant.rated_skill_mappings[("u1", "SK1")]
    assert row["selfRatedLevel_defaultValue"] == "2"
    assert row["managerRatedLevel_en_US"] == "4"
    with pytest.raises(KeyError):
        tenant.rate_skill("u1", "SK-none", 1)
    with pytest.raises(ValueError, match="rater"):
        tenant.rate_skill("u1", "SK1", 1, rater="peer")
    generated = FakeTenant()
    generated.generate_users(n=100, seed=2)
    assert generated.generate_skills(seed=2) > 30
    assert len(generated.rows_of("SkillEntity")) == 14


def test_token_expiry_uses_the_clock() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    tenant = FakeTenant(clock=lambda: moment, token_lifetime=60, learning_token_lifetime=30)
    platform = tenant.issue_token(kind="platform", client_id="c", user_id="u")
    learning = tenant.issue_token(kind="learning", client_id="c", user_id="u")
    assert platform.expires_at == moment + timedelta(seconds=60)
    assert learning.expires_at == moment + timedelta(seconds=30)
