"""Plotly figures: the tree (networkx layout, sizes, colours, hover, highlight, escaping) and the small charts."""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd
import pytest

from hpt_core import viz
from hpt_core.hierarchy import LabelHierarchy


def nodes_of(fig) -> dict[str, dict]:
    """label -> {x, y, size, colour, hover, ring} over the node traces of a tree figure."""
    out = {}
    for trace in fig.data:
        if trace.mode and "markers" in trace.mode and trace.customdata is not None:
            for i, label in enumerate(trace.customdata):
                marker = trace.marker
                sizes = marker.size if isinstance(marker.size, tuple) else [marker.size] * len(trace.customdata)
                rings = marker.line.width
                rings = rings if isinstance(rings, tuple) else [rings] * len(trace.customdata)
                hover = trace.hovertext[i] if trace.hovertext else trace.hovertemplate
                out[label] = {"x": trace.x[i], "y": trace.y[i], "size": sizes[i], "colour": marker.color,
                              "hover": hover, "ring": rings[i], "trace": trace.name}
    return out


def test_layout_comes_from_networkx(hierarchy):
    expected = nx.bfs_layout(hierarchy.graph, hierarchy.root, align="vertical")
    positions = viz.tree_positions(hierarchy)
    for node, (x, y) in expected.items():
        assert positions[node] == pytest.approx((x, -y))
    nodes = nodes_of(viz.tree_figure(hierarchy))
    assert set(nodes) == {hierarchy.root, *hierarchy.labels}
    for label in hierarchy.labels:
        assert (nodes[label]["x"], nodes[label]["y"]) == pytest.approx(positions[label])
        # depth runs left to right
        assert nodes[label]["x"] > nodes[hierarchy.parent(label) or hierarchy.root]["x"]


def test_edges_never_cross(hierarchy):
    """Children keep their parents' top-to-bottom order at every depth."""
    pos = viz.tree_positions(hierarchy)
    for depth in range(2, hierarchy.max_depth + 1):
        labels = sorted(hierarchy.labels_at_depth(depth), key=lambda l: -pos[l][1])
        parent_heights = [pos[hierarchy.parent(l)][1] for l in labels]
        assert parent_heights == sorted(parent_heights, reverse=True)


def test_size_by_frequency_colour_by_depth_and_hover_counts(hierarchy):
    counts = [10 * (i + 1) for i in range(len(hierarchy))]
    fig = viz.tree_figure(hierarchy, counts)
    nodes = nodes_of(fig)
    by_count = sorted(hierarchy.labels, key=lambda l: counts[hierarchy.label_to_index[l]])
    sizes = [nodes[l]["size"] for l in by_count]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    for label in hierarchy.labels:
        assert nodes[label]["colour"] == viz.depth_colour(hierarchy.depth(label))
        assert nodes[label]["trace"] == f"depth {hierarchy.depth(label)}"
        assert f"{counts[hierarchy.label_to_index[label]]} documents" in nodes[label]["hover"]
    assert len({viz.depth_colour(d) for d in range(1, hierarchy.max_depth + 1)}) == hierarchy.max_depth
    mapping = viz.tree_figure(hierarchy, {"football": 5})
    assert "5 documents" in nodes_of(mapping)["football"]["hover"]
    with pytest.raises(ValueError, match="counts"):
        viz.tree_figure(hierarchy, [1, 2])


def test_highlighted_paths(hierarchy):
    fig = viz.tree_figure(hierarchy, highlight=[["science", "physics", "optics"], "football"])
    nodes = nodes_of(fig)
    marked = {"science", "physics", "optics", "sports", "football"}  # a label brings its ancestors
    assert {l for l in hierarchy.labels if nodes[l]["ring"] == 3} == marked
    hot = next(t for t in fig.data if t.name == "predicted path")
    assert hot.x.count(None) == len(marked)  # one red segment per edge from the root down each path
    plain = viz.tree_figure(hierarchy)
    assert not any(t.name == "predicted path" for t in plain.data)
    assert viz.tree_figure(hierarchy, highlight=["unknown label"]).data  # unknown names are ignored
    named = viz.tree_figure(hierarchy, highlight=["arts"], highlight_name="selected label")
    assert any(t.name == "selected label" for t in named.data)


def test_user_text_is_escaped():
    nasty = "<img src=x onerror=alert(1)>"
    h = LabelHierarchy([("Root", "A & B"), ("A & B", nasty)], {nasty: "<script>bad()</script>"})
    fig = viz.tree_figure(h, [3, 1], highlight=[nasty], title="<i>t</i>")
    blob = fig.to_json()
    assert "<img" not in blob and "<script>" not in blob and "<i>t" not in blob
    assert "&lt;img src=x onerror=alert(1)&gt;" in blob and "A &amp; B" in blob
    bars = viz.documents_per_label_figure(h, [3, 1])
    assert list(bars.data[0].y) == ["A &amp; B", viz.esc(nasty)]
    runs = viz.dev_curves_figure({"<b>run</b>": [{"kind": "epoch", "epoch": 1, "dev_micro_f1": 0.5, "dev_macro_f1": 0.4}]})
    assert "<b>run" not in runs.to_json()


def test_names_beside_small_trees_only():
    small = LabelHierarchy([("Root", f"l{i}") for i in range(5)])
    big = LabelHierarchy([("Root", f"l{i}") for i in range(viz.MAX_NAMED_NODES + 1)])
    assert nodes_of(viz.tree_figure(small))["l0"] and viz.tree_figure(small).data[-1].mode == "markers+text"
    assert viz.tree_figure(big).data[-1].mode == "markers"


def test_dataset_figures(hierarchy):
    counts = list(range(1, len(hierarchy) + 1))
    hist = viz.label_frequency_histogram(counts)
    assert list(hist.data[0].x) == counts
    bars = viz.documents_per_label_figure(hierarchy, counts, top=3)
    assert list(bars.data[0].x) == sorted(counts, reverse=True)[:3]
    depth = viz.documents_per_depth_figure({1: 10, 2: 7, 3: 2}, {1: 3, 2: 4, 3: 2})
    assert list(depth.data[0].x) == ["depth 1", "depth 2", "depth 3"] and "4 labels" in depth.data[0].customdata[1]


def test_run_figures():
    per_depth = viz.per_depth_figure({"hpt": {"1": 0.9, "2": 0.5}, "rm": {"1": 0.8, "2": None}})
    assert [list(t.y) for t in per_depth.data] == [[90.0, 50.0], [80.0, None]]
    quintiles = viz.quintile_figure({"hpt": [0.1, None, 0.3, 0.4, 0.5]})
    assert list(quintiles.data[0].x) == viz.QUINTILE_NAMES and quintiles.data[0].y[1] is None

    history = [{"kind": "step", "step": s, "loss": 1.0 / s, "smoothed_loss": 1.0 / s, "mlm_loss": 0.1} for s in (1, 2, 3)]
    history += [{"kind": "epoch", "epoch": e, "dev_micro_f1": 0.5 + e / 10, "dev_macro_f1": 0.4} for e in (1, 2)]
    loss = viz.loss_figure(history)
    assert [t.name for t in loss.data] == ["loss", "smoothed", "MLM loss"] and list(loss.data[0].x) == [1, 2, 3]
    curves = viz.dev_curves_figure({"a": history, "b": history})
    assert len(curves.data) == 4 and list(curves.data[0].y) == pytest.approx([60.0, 70.0])

    summary = pd.DataFrame({"method": ["hpt", "vanilla"], "fraction": [0.1, 0.1],
                            "micro_f1_mean": [70.0, 60.0], "micro_f1_std": [1.5, math.nan], "micro_f1_count": [3, 1],
                            "macro_f1_mean": [50.0, 40.0], "macro_f1_std": [2.0, math.nan], "macro_f1_count": [3, 1]})
    low = viz.low_resource_figure(summary)
    assert list(low.data[0].x) == ["hpt (10%)", "vanilla (10%)"]
    assert list(low.data[0].error_y.array) == [1.5, 0.0]
    assert not viz.low_resource_figure(pd.DataFrame()).data

    scores = viz.scores_figure({1: [("a", 1.0), ("b", -1.0)], 2: [("c", 0.5)]}, top=1)
    assert [list(t.y) for t in scores.data] == [["a "], ["c "]]


# ---- large trees: the icicle -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    from helpers import big_taxonomy

    return LabelHierarchy.read(big_taxonomy(tmp_path_factory.mktemp("big") / "taxonomy.tsv"))


def test_big_taxonomy_generator(big):
    assert len(big) == 5000 and big.max_depth == 4
    assert [len(big.labels_at_depth(d)) for d in (1, 2, 3)] == [10, 80, 640]


def test_app_tree_switches_to_an_icicle_above_80_labels(hierarchy, big):
    assert viz.label_tree_figure(hierarchy).data[0].type == "scatter"
    fig = viz.label_tree_figure(big, counts={"t1": 7})
    trace = fig.data[0]
    assert trace.type == "icicle" and len(trace.ids) == 5001 and trace.ids[0] == big.root
    assert dict(zip(trace.ids, trace.parents))["t1.1"] == "t1"
    assert "7 documents" in trace.hovertext[list(trace.ids).index("t1")]
    # the first view: the root and its 10 children, whose 80 grandchildren would not fit with names
    assert trace.maxdepth == 2 and trace.level is None and trace.texttemplate == "%{label}"


def test_icicle_focus_drills_to_the_label_or_its_parent(big):
    assert viz.icicle_level(big, "t2") == "t2"  # a label with children: its subtree
    assert viz.icicle_level(big, "t2.1.1.1") == "t2.1.1"  # a leaf: among its siblings
    assert viz.icicle_level(big, None) == big.root
    fig = viz.label_tree_figure(big, highlight=["t2.1.1.1"], focus="t2.1.1.1")
    trace = fig.data[0]
    colours = dict(zip(trace.ids, trace.marker.colors))
    assert trace.level == "t2.1.1"
    assert {label for label, c in colours.items() if c == viz.HIGHLIGHT_COLOUR} == {"t2", "t2.1", "t2.1.1", "t2.1.1.1"}
    # enough height for each box shown to hold a line of text
    shown = len(big.children("t2.1.1"))
    assert fig.layout.height >= 18 * shown


def test_emphasis_keeps_a_predicted_path_readable_at_every_depth(big):
    path = big.path("t7.3.2.1")
    trace = viz.label_tree_figure(big, highlight=[path], emphasis=True).data[0]
    value = dict(zip(trace.ids, trace.values))
    assert trace.maxdepth == -1
    for parent, child in zip([big.root] + path[:-1], path):
        assert value[child] == pytest.approx(viz.PATH_SHARE * value[parent])
    # every box is its children's total (Plotly draws nothing of a "total" tree that is not)
    for label in ["t7", "t7.3", big.root]:
        assert value[label] == pytest.approx(sum(value[c] for c in big.children(label)))
    colours = dict(zip(trace.ids, trace.marker.colors))
    assert colours["t1"] == viz.DIM_COLOUR and colours["t7"] == viz.HIGHLIGHT_COLOUR


def test_icicle_escapes_user_text():
    nasty = "<img src=x onerror=alert(1)>"
    h = LabelHierarchy([("Root", f"l{i}") for i in range(90)] + [("l0", nasty)])
    blob = viz.label_tree_figure(h, title="<i>t</i>").to_json()
    assert "<img" not in blob and "<i>t" not in blob


def test_a_click_on_either_tree_names_the_label(hierarchy):
    assert viz.clicked_label(hierarchy, {"points": [{"customdata": "optics"}]}) == "optics"
    assert viz.clicked_label(hierarchy, {"points": [{"id": "physics", "label": "physics"}]}) == "physics"
    assert viz.clicked_label(hierarchy, {"points": [{"id": "nope"}]}) is None
    assert viz.clicked_label(hierarchy, None) is None


def test_legends_never_cover_titles(hierarchy):
    history = [{"kind": "epoch", "epoch": e, "dev_micro_f1": 0.5, "dev_macro_f1": 0.4} for e in (1, 2)]
    one = viz.dev_curves_figure({"a": history})
    assert one.layout.legend.yanchor == "bottom" and one.layout.margin.t >= 70  # a band for the legend row
    assert one.layout.title.yref == "container"
    # one run: micro and macro in two colours
    assert one.data[0].line.color != one.data[1].line.color
    tree = viz.tree_figure(hierarchy, title="t")
    assert tree.layout.legend.yanchor == "top" and tree.layout.legend.y < 0  # under the plot


def test_an_icicle_is_tall_enough_for_the_biggest_branch_one_click_opens():
    """Issue 21: Plotly drills into a clicked box in the browser, at the figure's height. A start
    view of 7 domains, one of them with 53 children, must leave each of those 53 boxes room for
    its name (about 18 px), as a view started at that domain does."""
    from hpt_core.hierarchy import LabelHierarchy

    edges = [("Root", f"D{d}") for d in range(7)]
    edges += [("D0", f"D0-{k}") for k in range(53)] + [(f"D{d}", f"D{d}-{k}") for d in range(1, 7) for k in range(12)]
    h = LabelHierarchy(edges)
    start, opened = viz.icicle_figure(h), viz.icicle_figure(h, focus="D0")
    # a box must keep at least about 20 px of the plot (19.2 px lost its name in Chromium)
    assert (opened.layout.height - viz.FRAME_PX) / 53 >= 20 and opened.layout.height >= viz.ROW_PX * 53 + viz.FRAME_PX
    assert start.layout.height >= opened.layout.height


def test_a_branch_too_wide_to_name_in_the_tree_is_the_one_listed():
    """Issue 21: past NAMED_ROWS children (59 at the height cap), the boxes of a branch are too thin
    for names; that branch is the one the Data page lists beside the tree — opened by focus or at the
    root — and a narrow one is not."""
    from hpt_core.hierarchy import LabelHierarchy

    edges = [("Root", f"D{d}") for d in range(5)] + [("D0", f"wide-{k}") for k in range(300)]
    edges += [(f"D{d}", f"D{d}-{k}") for d in range(1, 5) for k in range(5)]
    h = LabelHierarchy(edges)
    assert viz.NAMED_ROWS == 59
    assert viz.crowded_branch(h, "D0") == "D0" and viz.crowded_branch(h, "wide-7") == "D0"  # a leaf: its siblings
    assert viz.crowded_branch(h, "D1") is None and viz.crowded_branch(h) is None
    flat = LabelHierarchy([("Root", f"L{k}") for k in range(120)])
    assert viz.crowded_branch(flat) == flat.root
    # 30 children, one of them over 2,000 leaves: the other 29 boxes are slivers, so listed too
    uneven = LabelHierarchy([("Root", f"C{k}") for k in range(30)] + [("C0", f"leaf{k}") for k in range(2000)])
    assert viz.crowded_branch(uneven) == uneven.root and viz.crowded_branch(uneven, "C1") == uneven.root
