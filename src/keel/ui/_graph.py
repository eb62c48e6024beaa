"""A layered drawing of a directed acyclic graph, for inline SVG (no script, no library).

Sugiyama's scheme, kept simple: every node goes to the layer of its longest path from a
source (so every edge points down), an edge that skips layers passes through invisible
points in the layers between, each layer is ordered by the barycentre of its neighbours
in the layer above and then below (a few sweeps, keeping the order with the fewest
crossings), and layers are centred. Nodes have one size, so no two overlap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

__all__ = ["GraphNode", "layout"]

WIDTH, HEIGHT = 200, 44
GAP_X, GAP_Y, MARGIN = 28, 52, 8
_SWEEPS = 6


@dataclass(frozen=True)
class GraphNode:
    """A node to draw: ``key`` names it in edges; ``link`` is a page path (or ``None``)."""

    key: str
    label: str
    kind: str
    sub: str = ""
    status: str = ""
    title: str = ""
    link: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def layout(nodes: Sequence[GraphNode], edges: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Positions for ``nodes`` and the ``edges`` between them (``(from, to)`` keys; an edge
    naming an unknown node, a loop or a repeat is dropped), as JSON-ready data:
    ``{"width", "height", "crossings", "nodes": [... x, y, w, h, layer], "edges":
    [{"source", "target", "points": [[x, y], ...]}]}``; every edge's points go strictly
    downward, and ``crossings`` counts the pairs of edge segments that cross."""
    keys = [n.key for n in nodes]
    known = set(keys)
    pairs = list(dict.fromkeys((a, b) for a, b in edges if a in known and b in known and a != b))
    layer = _layers(keys, pairs)
    rows, chains = _with_waypoints(keys, pairs, layer)
    crossed = _order(rows, chains)
    width = max((len(r) for r in rows), default=0) * (WIDTH + GAP_X) - GAP_X + 2 * MARGIN
    where: dict[str, tuple[float, float]] = {}
    for depth, row in enumerate(rows):
        span = len(row) * (WIDTH + GAP_X) - GAP_X
        left = (width - span) / 2
        for i, key in enumerate(row):
            where[key] = (left + i * (WIDTH + GAP_X), MARGIN + depth * (HEIGHT + GAP_Y))
    drawn = []
    for node in nodes:
        x, y = where[node.key]
        drawn.append(
            {
                "key": node.key,
                "label": node.label,
                "kind": node.kind,
                "sub": node.sub,
                "status": node.status,
                "title": node.title,
                "link": node.link,
                "detail": dict(node.detail),
                "layer": layer[node.key],
                "x": x,
                "y": y,
                "w": WIDTH,
                "h": HEIGHT,
            }
        )
    lines = []
    for (a, b), chain in chains.items():
        top = [where[a][0] + WIDTH / 2, where[a][1] + HEIGHT]
        bottom = [where[b][0] + WIDTH / 2, where[b][1]]
        middle = [[where[k][0] + WIDTH / 2, where[k][1] + HEIGHT / 2] for k in chain]
        lines.append({"source": a, "target": b, "points": [top, *middle, bottom]})
    height = len(rows) * (HEIGHT + GAP_Y) - GAP_Y + 2 * MARGIN if rows else 0
    return {
        "width": max(width, 0),
        "height": max(height, 0),
        "crossings": crossed,
        "nodes": drawn,
        "edges": lines,
    }


def _layers(keys: Sequence[str], pairs: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each node's longest path from a source (Kahn's order); nodes on a cycle, which a
    recorded lineage cannot have, go below everything else rather than loop."""
    parents: dict[str, list[str]] = {k: [] for k in keys}
    children: dict[str, list[str]] = {k: [] for k in keys}
    for a, b in pairs:
        parents[b].append(a)
        children[a].append(b)
    waiting = {k: len(parents[k]) for k in keys}
    ready = [k for k in keys if waiting[k] == 0]
    layer = dict.fromkeys(keys, 0)
    done: list[str] = []
    while ready:
        key = ready.pop(0)
        done.append(key)
        for child in children[key]:
            layer[child] = max(layer[child], layer[key] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    bottom = max(layer.values(), default=0) + 1
    for key in keys:
        if key not in done:
            layer[key] = bottom
    return layer


def _with_waypoints(
    keys: Sequence[str], pairs: Sequence[tuple[str, str]], layer: dict[str, int]
) -> tuple[list[list[str]], dict[tuple[str, str], list[str]]]:
    """The layers' rows, with an invisible waypoint in every layer an edge crosses; and each
    edge's waypoints, top to bottom. An edge that would point up (only on a cycle) is
    dropped."""
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for key in keys:
        rows[layer[key]].append(key)
    chains: dict[tuple[str, str], list[str]] = {}
    for a, b in pairs:
        if layer[b] <= layer[a]:
            continue
        chain = []
        for depth in range(layer[a] + 1, layer[b]):
            point = f"\x00{a}\x00{b}\x00{depth}"
            rows[depth].append(point)
            chain.append(point)
        chains[(a, b)] = chain
    return rows, chains


def _order(rows: list[list[str]], chains: dict[tuple[str, str], list[str]]) -> int:
    """Reorder ``rows`` in place by barycentre sweeps, keeping the order with the fewest
    crossings; return how many edge segments still cross."""
    up: dict[str, list[str]] = {k: [] for row in rows for k in row}
    down: dict[str, list[str]] = {k: [] for row in rows for k in row}
    for (a, b), chain in chains.items():
        path = [a, *chain, b]
        for top, bottom in pairwise(path):
            down[top].append(bottom)
            up[bottom].append(top)
    best, fewest = [list(r) for r in rows], _count(rows, down)
    for sweep in range(_SWEEPS):
        order = range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1)
        near = up if sweep % 2 == 0 else down
        for depth in order:
            other = rows[depth - 1] if sweep % 2 == 0 else rows[depth + 1]
            rows[depth] = _by_barycentre(rows[depth], other, near)
        count = _count(rows, down)
        if count < fewest:
            best, fewest = [list(r) for r in rows], count
    rows[:] = best
    return fewest


def _by_barycentre(
    row: Sequence[str], other: Sequence[str], near: Mapping[str, Sequence[str]]
) -> list[str]:
    """``row`` ordered by the mean position of each node's neighbours in ``other`` (a node
    without any keeps its place); the sort is stable, so ties keep their order."""
    rank = {k: i for i, k in enumerate(other)}

    def centre(pair: tuple[int, str]) -> float:
        place, key = pair
        found = [rank[n] for n in near[key] if n in rank]
        return sum(found) / len(found) if found else float(place)

    return [key for _, key in sorted(enumerate(row), key=centre)]


def _count(rows: Sequence[Sequence[str]], down: Mapping[str, Sequence[str]]) -> int:
    total = 0
    for depth in range(len(rows) - 1):
        rank = {k: i for i, k in enumerate(rows[depth + 1])}
        segments = [(i, rank[b]) for i, a in enumerate(rows[depth]) for b in down[a] if b in rank]
        total += sum(
            1
            for n, (a1, b1) in enumerate(segments)
            for a2, b2 in segments[n + 1 :]
            if (a1 - a2) * (b1 - b2) < 0
        )
    return total
