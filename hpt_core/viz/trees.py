"""Figures of a label tree: a node-link drawing for small trees, an icicle with drill-down for
large ones, and the prediction view that draws one path wide (see ``hpt_core.viz``)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence

import networkx as nx
import plotly.graph_objects as go

from hpt_core.viz.style import BOTTOM_LEGEND, HIGHLIGHT_COLOUR, ROOT_COLOUR, _layout, depth_colour, esc

#: Largest tree whose node names are written beside the nodes (beyond it: hover only).
MAX_NAMED_NODES = 80

def tree_positions(hierarchy) -> dict[str, tuple[float, float]]:
    """Node positions from ``networkx.bfs_layout``: depth left to right, first child on top.

    Children of one parent are contiguous in breadth-first order, so no two edges cross.
    """
    pos = nx.bfs_layout(hierarchy.graph, hierarchy.root, align="vertical")
    return {node: (float(x), -float(y)) for node, (x, y) in pos.items()}


def _wrap(text: str, width: int = 60) -> str:
    return "<br>".join(esc(line) for line in textwrap.wrap(text, width)) if text else ""


def _hover_text(hierarchy, label: str, depth: int, count: dict[str, int] | None) -> str:
    """A label's hover box (escaped): name, depth and parent, documents, children, description."""
    parent = hierarchy.parent(label)
    lines = [f"<b>{esc(label)}</b>", f"depth {depth} · under {esc(parent) if parent else 'the root'}"]
    if count is not None:
        lines.append(f"{count[label]} documents")
    children = len(hierarchy.children(label))
    lines.append(f"{children} children" if children else "leaf")
    description = hierarchy.descriptions.get(label)
    if description:
        lines.append(_wrap(description))
    return "<br>".join(lines)


def _label_counts(labels: list[str], counts) -> dict[str, int] | None:
    """``counts`` (a mapping by label, or one value per label in label order) as ``{label: count}``."""
    if counts is None:
        return None
    if isinstance(counts, Mapping):
        return {label: int(counts.get(label, 0)) for label in labels}
    values = list(counts)
    if len(values) != len(labels):
        raise ValueError(f"counts has {len(values)} values for {len(labels)} labels")
    return {label: int(v) for label, v in zip(labels, values)}


def _highlighted(hierarchy, highlight: Iterable | None) -> set[str]:
    """Labels to highlight: ``highlight`` holds label names and/or paths (lists of names)."""
    out: set[str] = set()
    for item in highlight or []:
        names = [item] if isinstance(item, str) else list(item)
        for name in names:
            if name in hierarchy:
                out.update(hierarchy.path(name))  # a label implies its path from the top
    return out


def tree_figure(hierarchy, counts: Sequence[int] | Mapping[str, int] | None = None,
                highlight: Iterable | None = None, title: str | None = None,
                show_names: bool | None = None, highlight_name: str = "predicted path") -> go.Figure:
    """The label tree: node size by document frequency, colour by depth, counts on hover.

    Args:
        hierarchy: a :class:`~hpt_core.hierarchy.LabelHierarchy`.
        counts: documents per label (label-index order, or a mapping); sizes the nodes.
        highlight: label names and/or label paths (e.g. a prediction's ``paths``); their nodes are
            ringed and the edges from the root drawn in red, the rest dimmed.
        title: figure title.
        show_names: write names beside the nodes (default: trees of at most 80 labels).
        highlight_name: legend entry of the highlighted edges.

    Every node trace carries the label in ``customdata``, so a click (Streamlit ``on_select``)
    tells which label was picked.
    """
    pos = tree_positions(hierarchy)
    labels = list(hierarchy.labels)
    count = _label_counts(labels, counts)
    marked = _highlighted(hierarchy, highlight)
    show_names = len(labels) <= MAX_NAMED_NODES if show_names is None else show_names
    biggest = max(count.values(), default=0) if count else 0

    def size(label: str) -> float:
        if not count or biggest <= 0:
            return 14.0
        return 8.0 + 24.0 * math.sqrt(count[label] / biggest)

    fig = go.Figure()
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    hot_x: list[float | None] = []
    hot_y: list[float | None] = []
    for parent, child in hierarchy.graph.edges:
        hot = child in marked and (parent == hierarchy.root or parent in marked)
        xs, ys = (hot_x, hot_y) if hot else (edge_x, edge_y)
        xs += [pos[parent][0], pos[child][0], None]
        ys += [pos[parent][1], pos[child][1], None]
    fig.add_trace(go.Scatter(x=edge_x, y=edge_y, mode="lines", line=dict(color="#c7c7c7", width=1),
                             hoverinfo="skip", showlegend=False, name="edges"))
    if hot_x:
        fig.add_trace(go.Scatter(x=hot_x, y=hot_y, mode="lines", line=dict(color=HIGHLIGHT_COLOUR, width=3),
                                 hoverinfo="skip", name=esc(highlight_name)))
    root_x, root_y = pos[hierarchy.root]
    fig.add_trace(go.Scatter(
        x=[root_x], y=[root_y], mode="markers", marker=dict(size=12, color=ROOT_COLOUR, symbol="diamond"),
        hovertext=[f"<b>{esc(hierarchy.root)}</b> (root) · {len(labels)} labels, depth {hierarchy.max_depth}"],
        hovertemplate="%{hovertext}<extra></extra>",
        name="root", showlegend=False, customdata=[hierarchy.root]))
    for depth in range(1, hierarchy.max_depth + 1):
        nodes = hierarchy.labels_at_depth(depth)
        hover = []
        for label in nodes:
            hover.append(_hover_text(hierarchy, label, depth, count))
        dim = bool(marked)
        fig.add_trace(go.Scatter(
            x=[pos[label][0] for label in nodes], y=[pos[label][1] for label in nodes],
            mode="markers+text" if show_names else "markers",
            text=[esc(hierarchy.display_name(label)) for label in nodes] if show_names else None,
            textposition="middle right", textfont=dict(size=11, color="#31333f", shadow="0 0 3px white"),
            cliponaxis=False,
            marker=dict(
                size=[size(label) for label in nodes], color=depth_colour(depth),
                opacity=[1.0 if (not dim or label in marked) else 0.35 for label in nodes],
                line=dict(color=[HIGHLIGHT_COLOUR if label in marked else "white" for label in nodes],
                          width=[3 if label in marked else 1 for label in nodes]),
            ),
            customdata=nodes, hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", name=f"depth {depth}",
        ))
    widest = max(len(hierarchy.labels_at_depth(d)) for d in range(1, hierarchy.max_depth + 1))
    xs = [p[0] for p in pos.values()]
    # Names of the deepest nodes run past the plot: leave them a right margin (about 6.5 px a character).
    longest = max(len(hierarchy.display_name(label)) for label in hierarchy.labels_at_depth(hierarchy.max_depth))
    _layout(fig, title, height=int(min(1600, max(380, 24 * widest + 80))),
            xaxis=dict(visible=False, range=[min(xs) - 0.05, max(xs) + 0.05]), yaxis=dict(visible=False),
            plot_bgcolor="rgba(0,0,0,0)", hovermode="closest", clickmode="event+select", dragmode="pan",
            # Under the plot: a deep tree's many depth entries never run into the title or the mode bar,
            # and the right margin belongs to the deepest labels' names.
            legend=BOTTOM_LEGEND)
    fig.update_layout(margin_r=min(260, 20 + int(6.5 * longest)) if show_names else 20, margin_b=40)
    return fig


# ---- dataset figures -----------------------------------------------------------------------------


# ---- large trees: an icicle with drill-down ------------------------------------------------------

#: How many rows (nodes of the deepest level shown) an icicle view aims at: about 16 px a name.
ICICLE_ROWS = 48
#: Pixels of figure height per box of the deepest column shown, and for the title, path bar and
#: margins. Plotly hides a name that does not fit its box at ``uniformtext.minsize`` (10 px): in
#: Chromium, in the app, a box of 19.2 px lost its name and one of 20.4 px kept it (session 15, the
#: Data page's title included), so a box gets about 22 px.
ROW_PX = 22
FRAME_PX = 100
MAX_HEIGHT = 1400
#: Rows the prediction view's height is made for (every depth shown, the path drawn wide).
EMPHASIS_ROWS = 32
#: The emphasised path takes this share of its parent's extent in the prediction view.
PATH_SHARE = 0.6
DIM_COLOUR = "#e6e6e6"


def icicle_level(hierarchy, focus: str | None) -> str:
    """The node an icicle view of ``focus`` starts from: the label itself when it has children
    (its subtree is what one wants to see), else its parent (the label among its siblings)."""
    if not focus or focus not in hierarchy:
        return hierarchy.root
    if hierarchy.children(focus):
        return focus
    return hierarchy.parent(focus) or hierarchy.root


def _leaves_under(hierarchy) -> dict[str, int]:
    below: dict[str, int] = {}
    for depth in range(hierarchy.max_depth, 0, -1):
        for label in hierarchy.labels_at_depth(depth):
            kids = hierarchy.children(label)
            below[label] = sum(below[k] for k in kids) if kids else 1
    below[hierarchy.root] = sum(below[k] for k in hierarchy.children(hierarchy.root))
    return below


def icicle_maxdepth(hierarchy, level: str, rows: int = ICICLE_ROWS) -> int:
    """How many levels (the start node included) to show below ``level`` so that the deepest one
    holds at most ``rows`` nodes (at least the start node and its children: Plotly's ``maxdepth``)."""
    frontier, shown = [level], 1
    while True:
        nxt = [c for node in frontier for c in hierarchy.children(node)]
        if not nxt or (shown >= 2 and len(nxt) > rows):
            return shown
        frontier, shown = nxt, shown + 1


def icicle_figure(hierarchy, counts: Sequence[int] | Mapping[str, int] | None = None,
                  highlight: Iterable | None = None, focus: str | None = None, title: str | None = None,
                  emphasis: bool = False, rows: int = ICICLE_ROWS) -> go.Figure:
    """A label tree of any size as a Plotly icicle: depth left to right, names written in the boxes.

    Args:
        hierarchy: a :class:`~hpt_core.hierarchy.LabelHierarchy`.
        counts: documents per label (label-index order, or a mapping); shown on hover.
        highlight: label names and/or paths; their boxes are red (the rest keep their depth colour,
            dimmed when ``emphasis``).
        focus: start the view at this label (:func:`icicle_level`): drill-down, as a click does.
        emphasis: size the highlighted paths to :data:`PATH_SHARE` of their parent at every depth,
            so a predicted path stays readable in a tree of thousands of labels; otherwise every
            leaf gets the same height.
        rows: the view shows as many levels as keep its deepest column to about this many boxes.

    Node ``ids`` are the label names (the root's too), so a click (Streamlit ``on_select``) reports
    the label as the point's ``id``; Plotly drills into the clicked box, the path bar leads back up.
    """
    labels = list(hierarchy.labels)
    count = _label_counts(labels, counts)
    marked = _highlighted(hierarchy, highlight)
    root = hierarchy.root
    if emphasis and marked:
        value = {root: 1.0}
        order = [root] + [label for d in range(1, hierarchy.max_depth + 1) for label in hierarchy.labels_at_depth(d)]
        for node in order:
            kids = hierarchy.children(node)
            hot = [k for k in kids if k in marked]
            cold = [k for k in kids if k not in marked]
            hot_share = (PATH_SHARE if cold else 1.0) if hot else 0.0
            for k in hot:
                value[k] = value[node] * hot_share / len(hot)
            for k in cold:
                value[k] = value[node] * (1.0 - hot_share) / len(cold)
    else:
        value = {k: float(v) for k, v in _leaves_under(hierarchy).items()}
    ids, parents, names, colours, hover, values = [root], [""], [esc(root)], [ROOT_COLOUR], [], [value[root]]
    hover.append(f"<b>{esc(root)}</b> (root) · {len(labels)} labels, depth {hierarchy.max_depth}")
    dim = emphasis and bool(marked)
    for depth in range(1, hierarchy.max_depth + 1):
        for label in hierarchy.labels_at_depth(depth):
            parent = hierarchy.parent(label)
            ids.append(label)
            parents.append(parent or root)
            names.append(esc(hierarchy.display_name(label)))
            values.append(value[label])
            colours.append(HIGHLIGHT_COLOUR if label in marked else DIM_COLOUR if dim else
                           _pale(depth_colour(depth)) if marked else depth_colour(depth))
            hover.append(_hover_text(hierarchy, label, depth, count))
    level = icicle_level(hierarchy, focus)
    if emphasis and marked:  # the whole depth: the emphasised paths are readable at every level
        level, maxdepth = root, -1
        height = _icicle_height(max([EMPHASIS_ROWS] + [_view_rows(hierarchy, node, rows)
                                                       for node in _visible(hierarchy, root, -1)]))
    else:
        maxdepth = icicle_maxdepth(hierarchy, level, rows)
        height = icicle_height(hierarchy, level, rows)
    fig = go.Figure(go.Icicle(
        ids=ids, parents=parents, labels=names, values=values, branchvalues="total",
        level=level if level != root else None, maxdepth=maxdepth,
        marker=dict(colors=colours, line=dict(color="white", width=1)),
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
        texttemplate="%{label}", textposition="middle left", tiling=dict(orientation="h"),
        pathbar=dict(visible=True, side="top", thickness=22), sort=False,
    ))
    fig.update_layout(uniformtext=dict(minsize=10, mode="hide"))
    return _layout(fig, title, height=height)


def _icicle_height(rows_needed: int) -> int:
    return int(min(MAX_HEIGHT, max(420, ROW_PX * rows_needed + FRAME_PX)))


def icicle_height(hierarchy, level: str, rows: int = ICICLE_ROWS) -> int:
    """The height (px) of the icicle view started at ``level``: about ``ROW_PX`` a box of the
    deepest column shown — and of the deepest column any one click opens (Plotly drills down in
    the browser without asking the app, and 53 children of one WOS domain squeezed into the start
    view's height lost every name) — within ``MAX_HEIGHT``."""
    maxdepth = icicle_maxdepth(hierarchy, level, rows)
    return _icicle_height(max([_view_rows(hierarchy, level, rows)] + [
        _view_rows(hierarchy, node, rows) for node in _visible(hierarchy, level, maxdepth)]))


#: The most boxes one column of the icicle can name at :data:`MAX_HEIGHT` (59).
NAMED_ROWS = (MAX_HEIGHT - FRAME_PX) // ROW_PX


def crowded_branch(hierarchy, focus: str | None = None) -> str | None:
    """The label (or the root) whose children the icicle opened at ``focus`` shows but cannot all
    name: more than :data:`NAMED_ROWS` of them (too thin for any name at the height cap), or one
    so small beside its siblings (a box is a child's share of the leaves below) that its box is
    under ``ROW_PX - 2`` px. ``None`` when every child's name fits. The app lists that branch's children beside the
    tree, so that a branch of any width has every name readable (issue 21)."""
    if len(hierarchy) <= MAX_NAMED_NODES:  # the node-link drawing names every node
        return None
    level = icicle_level(hierarchy, focus)
    kids = hierarchy.children(level)
    if not kids:
        return None
    # a child's box is its share of the leaves below the view's start (the icicle's values)
    below = _leaves_under(hierarchy)
    smallest_px = min(below[k] for k in kids) / below[level] * (icicle_height(hierarchy, level) - FRAME_PX)
    return level if len(kids) > NAMED_ROWS or smallest_px < ROW_PX - 2 else None


def _visible(hierarchy, level: str, maxdepth: int) -> list[str]:
    """The labels with children in an icicle view from ``level`` showing ``maxdepth`` levels
    (``-1``: all): those a click can open."""
    shown, frontier, depth = [], [level], 1
    while frontier and (maxdepth < 0 or depth <= maxdepth):
        shown += [node for node in frontier if hierarchy.children(node)]
        frontier, depth = [c for node in frontier for c in hierarchy.children(node)], depth + 1
    return shown


def _view_rows(hierarchy, node: str, rows: int) -> int:
    """How many boxes the deepest column of the view opened at ``node`` holds."""
    frontier = [node]
    for _ in range(icicle_maxdepth(hierarchy, node, rows) - 1):
        frontier = [c for n in frontier for c in hierarchy.children(n)] or frontier
    return len(frontier)


def _pale(colour: str, alpha: float = 0.35) -> str:
    """A depth colour faded (``rgba``), so that the red of a marked label stands out beside it."""
    if colour.startswith("rgb("):
        return colour.replace("rgb(", "rgba(").replace(")", f", {alpha})")
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def label_tree_figure(hierarchy, counts=None, highlight: Iterable | None = None, title: str | None = None,
                      focus: str | None = None, emphasis: bool = False,
                      highlight_name: str = "predicted path") -> go.Figure:
    """The tree as the app shows it: the node-link drawing up to :data:`MAX_NAMED_NODES` labels
    (every name fits), an icicle with drill-down beyond (``focus`` and ``emphasis`` apply there)."""
    if len(hierarchy) <= MAX_NAMED_NODES:
        return tree_figure(hierarchy, counts, highlight=highlight, title=title, highlight_name=highlight_name)
    return icicle_figure(hierarchy, counts, highlight=highlight, focus=focus, title=title, emphasis=emphasis)


def clicked_label(hierarchy, selection) -> str | None:
    """The label a click on either tree figure picked, from Streamlit's ``on_select`` event.

    A node-link tree's points carry the label in ``customdata``; an icicle's carry it as ``id``.
    """
    points = getattr(selection, "points", None)
    if points is None and isinstance(selection, Mapping):
        points = selection.get("points")
    for point in points or []:
        for key in ("id", "customdata"):
            label = point.get(key) if isinstance(point, Mapping) else None
            label = label[0] if isinstance(label, list) and label else label
            if isinstance(label, str) and (label in hierarchy or label == hierarchy.root):
                return label
    return None
