from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from plugin import orgchart
from plugin.errors import NotFound
from plugin.services import people

TREE = {1: None, 2: 1, 3: 1, 4: 2, 5: 4, 6: 5, 7: 3}


def test_chain_any_depth_nearest_first() -> None:
    assert orgchart.chain_of(6, TREE) == [5, 4, 2, 1]
    assert orgchart.chain_of(1, TREE) == []


def test_in_same_chain_either_direction() -> None:
    assert orgchart.in_same_chain(6, 1, TREE)
    assert orgchart.in_same_chain(1, 6, TREE)
    assert orgchart.in_same_chain(2, 6, TREE)
    assert not orgchart.in_same_chain(6, 7, TREE)  # cousins
    assert not orgchart.in_same_chain(2, 3, TREE)  # siblings
    assert not orgchart.in_same_chain(4, 4, TREE)


def test_cycles_are_safe() -> None:
    cyclic = {1: 3, 2: 1, 3: 2, 4: 3}
    assert orgchart.chain_of(4, cyclic) == [3, 2, 1]
    assert orgchart.chain_of(1, cyclic) == [3, 2]
    assert orgchart.in_same_chain(4, 1, cyclic)
    chains = orgchart.chains_for([1, 2, 3, 4], cyclic)
    assert chains[4] == {1, 2, 3}
    assert chains[1] == {2, 3}
    check = orgchart.check_tree(cyclic)
    assert not check.is_single_tree
    assert len(check.cycles) == 1
    assert set(check.cycles[0]) == {1, 2, 3}


def test_self_loop_and_dangling() -> None:
    assert orgchart.chain_of(1, {1: 1}) == []
    check = orgchart.check_tree({1: None, 2: 99})
    assert check.dangling == (2,)
    assert not check.is_single_tree


def test_chains_for_matches_chain_of() -> None:
    chains = orgchart.chains_for(list(TREE), TREE)
    for p in TREE:
        assert chains[p] == frozenset(orgchart.chain_of(p, TREE))


def test_check_tree_single_tree() -> None:
    check = orgchart.check_tree(TREE)
    assert check.is_single_tree
    assert check.roots == (1,)
    assert check.max_depth == 4
    two_roots = orgchart.check_tree({1: None, 2: None})
    assert not two_roots.is_single_tree


def test_service_reads_chart_from_db(db_session: Session, org, make_person) -> None:  # type: ignore[no-untyped-def]
    ceo = make_person(org)
    head = make_person(org, manager_id=ceo.id)
    lead = make_person(org, manager_id=head.id)
    dev = make_person(org, manager_id=lead.id)
    other = make_person(org, manager_id=ceo.id)
    assert people.management_chain(db_session, org_id=org.id, person_id=dev.id) == [
        lead.id,
        head.id,
        ceo.id,
    ]
    assert people.in_same_chain(db_session, org_id=org.id, a=ceo.id, b=dev.id)
    assert not people.in_same_chain(db_session, org_id=org.id, a=other.id, b=dev.id)
    assert people.tree_check(db_session, org_id=org.id).is_single_tree


def test_service_refuses_other_org(db_session: Session, make_org, make_person) -> None:  # type: ignore[no-untyped-def]
    a, b = make_org("a", "A"), make_org("b", "B")
    pa, pb = make_person(a), make_person(b)
    with pytest.raises(NotFound):
        people.in_same_chain(db_session, org_id=a.id, a=pa.id, b=pb.id)
