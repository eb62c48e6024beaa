"""The DAG layout (``keel.ui._graph.layout``): nodes never overlap, every edge points down,
each node sits on the layer of its longest path from a source, and the ordering removes the
crossings a graph does not need."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keel.ui._graph import GraphNode, layout


def nodes(*keys: str) -> list[GraphNode]:
    return [GraphNode(k, k, "step") for k in keys]


def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def check_drawing(drawn: dict[str, Any]) -> None:
    placed = drawn["nodes"]
    for i, a in enumerate(placed):
        assert a["x"] >= 0
        assert a["x"] + a["w"] <= drawn["width"]
        assert a["y"] >= 0
        assert a["y"] + a["h"] <= drawn["height"]
        for b in placed[i + 1 :]:
            assert not overlaps(a, b), (a["key"], b["key"])
    by_key = {n["key"]: n for n in placed}
    for edge in drawn["edges"]:
        source, target = by_key[edge["source"]], by_key[edge["target"]]
        assert edge["points"][0] == [source["x"] + source["w"] / 2, source["y"] + source["h"]]
        assert edge["points"][-1] == [target["x"] + target["w"] / 2, target["y"]]
        ys = [y for _, y in edge["points"]]
        assert all(a < b for a, b in itertools.pairwise(ys)), edge  # strictly down


def test_layers_are_longest_paths_and_edges_point_down() -> None:
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("x", "d")]
    drawn = layout(nodes("a", "b", "c", "d", "x"), edges)
    layer = {n["key"]: n["layer"] for n in drawn["nodes"]}
    assert layer == {"a": 0, "b": 1, "c": 2, "d": 3, "x": 0}
    assert len(drawn["edges"]) == len(edges)
    skip = next(e for e in drawn["edges"] if (e["source"], e["target"]) == ("a", "c"))
    assert len(skip["points"]) == 3  # it bends through a waypoint on b's layer
    x_to_d = next(e for e in drawn["edges"] if e["source"] == "x")
    assert len(x_to_d["points"]) == 4  # waypoints on layers 1 and 2
    check_drawing(drawn)


def test_ordering_removes_needless_crossings() -> None:
    # given in an order that crosses: a->d, b->c; the layout swaps one layer
    drawn = layout(nodes("a", "b", "c", "d"), [("a", "d"), ("b", "c")])
    assert drawn["crossings"] == 0
    xs = {n["key"]: n["x"] for n in drawn["nodes"]}
    assert (xs["a"] < xs["b"]) == (xs["d"] < xs["c"])
    # two chains side by side, tangled in the input order, come apart
    edges = [("a1", "a2"), ("b1", "b2"), ("a2", "a3"), ("b2", "b3")]
    tangled = layout(nodes("a1", "b1", "b2", "a2", "a3", "b3"), edges)
    assert tangled["crossings"] == 0
    check_drawing(tangled)


def test_a_complete_bipartite_graph_keeps_its_unavoidable_crossings() -> None:
    edges = [(a, b) for a in ("a", "b", "c") for b in ("x", "y", "z")]
    drawn = layout(nodes("a", "b", "c", "x", "y", "z"), edges)
    assert drawn["crossings"] == 9  # K3,3 between two layers: 3 choose 2 squared, any order
    check_drawing(drawn)


def test_bad_edges_are_dropped_and_a_cycle_does_not_loop() -> None:
    drawn = layout(nodes("a", "b"), [("a", "b"), ("a", "b"), ("a", "a"), ("a", "nowhere")])
    assert [(e["source"], e["target"]) for e in drawn["edges"]] == [("a", "b")]
    cyclic = layout(nodes("a", "b", "c"), [("a", "b"), ("b", "c"), ("c", "b")])
    check_drawing(cyclic)  # what cannot point down is left out, never drawn upward
    assert layout([], []) == {"width": 0, "height": 0, "crossings": 0, "nodes": [], "edges": []}


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]]]:
    count = draw(st.integers(1, 14))
    keys = [f"n{i}" for i in range(count)]
    pairs = [(a, b) for a in range(count) for b in range(a + 1, count)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=25) if pairs else st.just([]))
    order = draw(st.permutations(keys))
    return list(order), [(keys[a], keys[b]) for a, b in chosen]


@settings(max_examples=60, deadline=None)
@given(dags())
def test_any_dag_is_drawn_without_overlap_and_downward(dag: Any) -> None:
    keys, edges = dag
    drawn = layout(nodes(*keys), edges)
    assert {n["key"] for n in drawn["nodes"]} == set(keys)
    assert {(e["source"], e["target"]) for e in drawn["edges"]} == set(edges)
    check_drawing(drawn)
