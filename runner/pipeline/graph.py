"""Dependency graphs of steps and stages, walked by the standard library's ``graphlib``.

A graph maps each node to the nodes it depends on, in the order the file names them; edges to
nodes outside the graph are ignored (the linter reports those by themselves). Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from graphlib import CycleError, TopologicalSorter


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """A dependency cycle as ``[a, b, a]`` (``a`` depends on ``b``, ``b`` on ``a``), or ``[]``.

    The cycle reported is the first met walking the nodes in the graph's order and each node's
    dependencies in theirs, so the same file always names the same steps.
    """
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for node in graph:
        sorter.add(node)
    for node, deps in graph.items():
        for dep in deps:
            if dep in graph:
                # Reversed: graphlib reports a cycle along the edges it follows, from a node to
                # what comes after it; the message follows a node to what it depends on.
                sorter.add(dep, node)
    try:
        sorter.prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return []


def without_cycles(graph: Mapping[str, Sequence[str]]) -> tuple[dict[str, list[str]], set[str]]:
    """The graph without edges to unknown nodes and without the edge that closes each cycle,
    and the nodes that lost such an edge (each lies on a cycle)."""
    edges = {node: [d for d in deps if d in graph] for node, deps in graph.items()}
    cut: set[str] = set()
    while True:
        try:
            TopologicalSorter(edges).prepare()
            return edges, cut
        except CycleError as exc:
            # graphlib names the cycle along its edges from dependency to dependent.
            dependency, dependent = exc.args[1][-2], exc.args[1][-1]
            edges[dependent] = [d for d in edges[dependent] if d != dependency]
            cut.add(dependent)


def dependency_order(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Every node after the nodes it depends on; among nodes whose dependencies are all placed,
    the graph's own (file) order.

    A cycle (which the linter refuses, so only stored data can hold one) is broken at the edge
    that closes it, so every node is still placed exactly once.
    """
    position = {node: index for index, node in enumerate(graph)}
    sorter = TopologicalSorter(without_cycles(graph)[0])
    sorter.prepare()
    ready: list[str] = []
    order: list[str] = []
    while sorter.is_active():
        ready.extend(sorter.get_ready())
        ready.sort(key=position.__getitem__)
        node = ready.pop(0)
        order.append(node)
        sorter.done(node)
    return order
