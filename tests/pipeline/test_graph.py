"""Dependency graphs walked by graphlib (``runner.pipeline.graph``): the cycle the linter names
is the first met in file order, along "depends on"; the dependency order keeps file order
among stages free to go, and places every node once even when stored data holds a cycle."""

from __future__ import annotations

from runner.pipeline.graph import dependency_order, find_cycle


def test_no_cycle_in_a_dag_and_edges_to_unknown_nodes_are_ignored():
    assert find_cycle({"a": [], "b": ["a", "elsewhere"], "c": ["a", "b"]}) == []


def test_a_cycle_is_named_along_depends_on_from_the_first_node_in_file_order():
    graph = {"build": ["test"], "test": ["deploy"], "deploy": ["build"], "lint": []}
    assert find_cycle(graph) == ["build", "test", "deploy", "build"]
    assert find_cycle({"lint": [], "a": ["a"]}) == ["a", "a"]


def test_of_two_cycles_the_first_in_file_order_is_named():
    graph = {"x": ["y"], "y": ["x"], "a": ["b"], "b": ["a"]}
    assert find_cycle(graph) == ["x", "y", "x"]


def test_dependencies_come_first_and_file_order_decides_among_the_free():
    graph = {"a": ["c"], "b": [], "c": [], "d": ["a", "b"]}
    assert dependency_order(graph) == ["b", "c", "a", "d"]


def test_a_cycle_in_stored_data_still_places_every_node_once():
    order = dependency_order({"x": [], "a": ["b", "x"], "b": ["c"], "c": ["a"], "z": ["c"]})
    assert sorted(order) == ["a", "b", "c", "x", "z"]
    assert order.index("z") > order.index("c")
