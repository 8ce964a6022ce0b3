"""Org-chart queries the matcher needs, as pure functions over a manager map.

A *manager map* is ``{person_id: manager_id or None}`` for one organization. HRIS data
can contain cycles (A manages B manages A after a botched reorganisation); every
function here is cycle-safe: a walk stops when it meets a person it has seen.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["TreeCheck", "chain_of", "chains_for", "check_tree", "in_same_chain"]

K = TypeVar("K", bound=Hashable)


def chain_of(person: K, managers: Mapping[K, K | None]) -> list[K]:
    """The person's whole management chain, nearest manager first, at any depth.

    Cycle-safe: if the chain loops back, it stops before repeating anyone (the person
    themself never appears in their own chain).
    """
    chain: list[K] = []
    seen = {person}
    current = managers.get(person)
    while current is not None and current not in seen:
        chain.append(current)
        seen.add(current)
        current = managers.get(current)
    return chain


def chains_for(people: Iterable[K], managers: Mapping[K, K | None]) -> dict[K, frozenset[K]]:
    """Chains (as sets) for many people at once, sharing work along common ancestors.

    Linear in the size of the org chart for an acyclic chart; falls back to a per-person
    walk where a cycle is met.
    """
    memo: dict[K, frozenset[K]] = {}

    def resolve(start: K) -> frozenset[K]:
        path: list[K] = []
        on_path: set[K] = set()
        node: K | None = start
        while node is not None and node not in memo and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = managers.get(node)
        if node is not None and node in on_path:
            # A cycle: resolve everyone on this path with an explicit safe walk.
            for p in path:
                memo.setdefault(p, frozenset(chain_of(p, managers)))
            return memo[start]
        above: frozenset[K] = frozenset() if node is None else memo[node] | {node}
        for p in reversed(path):
            memo[p] = above
            above = above | {p}
        return memo[start]

    return {p: resolve(p) for p in people}


def in_same_chain(a: K, b: K, managers: Mapping[K, K | None]) -> bool:
    """True if A is in B's management chain or B is in A's, at any depth."""
    return a != b and (a in chain_of(b, managers) or b in chain_of(a, managers))


@dataclass(frozen=True)
class TreeCheck:
    """What :func:`check_tree` found."""

    people: int
    roots: tuple[Hashable, ...]
    cycles: tuple[tuple[Hashable, ...], ...]
    dangling: tuple[Hashable, ...]
    max_depth: int

    @property
    def is_single_tree(self) -> bool:
        """Exactly one root, no cycles, every manager known."""
        return len(self.roots) == 1 and not self.cycles and not self.dangling


def check_tree(managers: Mapping[K, K | None]) -> TreeCheck:
    """Check that a manager map forms one tree: one root, no cycles, no unknown managers."""
    roots = tuple(sorted((p for p, m in managers.items() if m is None), key=repr))
    dangling = tuple(
        sorted((p for p, m in managers.items() if m is not None and m not in managers), key=repr)
    )
    state: dict[K, int] = {}  # 1 = on current path, 2 = done
    depth: dict[K, int] = {}
    cycles: list[tuple[Hashable, ...]] = []
    for start in managers:
        if start in state:
            continue
        path: list[K] = []
        node: K | None = start
        while node is not None and node in managers and node not in state:
            state[node] = 1
            path.append(node)
            node = managers[node]
        if node is not None and state.get(node) == 1:
            cycle = tuple(path[path.index(node) :])
            cycles.append(cycle)
            for p in cycle:
                depth[p] = 0
        base = depth.get(node, -1) if node is not None and node in managers else -1
        for p in reversed(path):
            if p not in depth:
                base += 1
                depth[p] = base
            else:
                base = depth[p]
            state[p] = 2
    return TreeCheck(
        people=len(managers),
        roots=roots,
        cycles=tuple(cycles),
        dangling=dangling,
        max_depth=max(depth.values(), default=0),
    )
