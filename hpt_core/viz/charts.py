"""Figures of datasets and runs: label frequencies, F1 per depth and per frequency quintile, loss
and dev curves, learning and abstention curves, low-resource summaries, a text's scores (see
``hpt_core.viz``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from hpt_core.viz.style import DEPTH_COLOURS, QUINTILE_NAMES, _layout, _percent, depth_colour, esc

def label_frequency_histogram(counts: Sequence[int], title: str | None = "Label frequency") -> go.Figure:
    """How many labels have how many documents (the long tail the paper's Figure 3b is about)."""
    values = np.asarray(list(counts), dtype=float)
    fig = go.Figure(go.Histogram(x=values, nbinsx=min(40, max(5, len(values))), marker_color=DEPTH_COLOURS[1],
                                 hovertemplate="%{x} documents: %{y} labels<extra></extra>"))
    return _layout(fig, title, xaxis_title="documents per label", yaxis_title="labels", bargap=0.05)


def documents_per_label_figure(hierarchy, counts: Sequence[int], top: int = 40,
                               title: str | None = "Documents per label") -> go.Figure:
    """Horizontal bars, most frequent label on top (``top`` labels at most), coloured by depth."""
    order = sorted(range(len(hierarchy.labels)), key=lambda i: -int(counts[i]))[:top]
    labels = [hierarchy.labels[i] for i in order]
    fig = go.Figure(go.Bar(
        y=[esc(label) for label in labels], x=[int(counts[i]) for i in order], orientation="h",
        marker_color=[depth_colour(hierarchy.depths[i]) for i in order],
        customdata=[hierarchy.depths[i] for i in order],
        hovertemplate="%{y}: %{x} documents (depth %{customdata})<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, title, height=max(300, 18 * len(labels) + 80), xaxis_title="documents")


def documents_per_depth_figure(docs_per_depth: Mapping[int, int], labels_per_depth: Mapping[int, int] | None = None,
                               title: str | None = "Documents per depth") -> go.Figure:
    """Documents with at least one label at each depth (labels per depth on hover)."""
    depths = sorted(docs_per_depth)
    extra = [f" · {labels_per_depth.get(d, 0)} labels" if labels_per_depth else "" for d in depths]
    fig = go.Figure(go.Bar(x=[f"depth {d}" for d in depths], y=[docs_per_depth[d] for d in depths],
                           marker_color=[depth_colour(d) for d in depths], customdata=extra,
                           hovertemplate="%{x}: %{y} documents%{customdata}<extra></extra>"))
    return _layout(fig, title, yaxis_title="documents")


# ---- run figures ---------------------------------------------------------------------------------


def per_depth_figure(series: Mapping[str, Mapping], title: str | None = "Macro-F1 per depth (Figure 3a)") -> go.Figure:
    """Grouped bars: one group per depth, one bar per series (``{name: {"1": f1, ...}}``, F1 as fractions)."""
    depths = sorted({int(d) for values in series.values() for d in values}, key=int)
    fig = go.Figure()
    for name, values in series.items():
        by_depth = {int(d): v for d, v in values.items()}
        fig.add_trace(go.Bar(name=esc(name), x=[f"depth {d}" for d in depths], y=[_percent(by_depth.get(d)) for d in depths],
                             hovertemplate="%{x}: %{y:.2f}<extra>%{fullData.name}</extra>"))
    return _layout(fig, title, yaxis_title="macro-F1 (%)", barmode="group", yaxis_range=[0, 100])


def quintile_figure(series: Mapping[str, Sequence[float | None]],
                    title: str | None = "Macro-F1 by label frequency (Figure 3b)") -> go.Figure:
    """Grouped bars over the five training-frequency groups, rarest first (``>80%`` = top 20 % of labels)."""
    fig = go.Figure()
    for name, values in series.items():
        fig.add_trace(go.Bar(name=esc(name), x=QUINTILE_NAMES, y=[_percent(v) for v in values],
                             hovertemplate="labels ranked %{x} by training documents: %{y:.2f}"
                                           "<extra>%{fullData.name}</extra>"))
    return _layout(fig, title, yaxis_title="macro-F1 (%)", xaxis_title="label group by training documents (rarest first)",
                   barmode="group", yaxis_range=[0, 100])


def loss_figure(history: Sequence[Mapping], title: str | None = "Training loss") -> go.Figure:
    """Loss per logged step (raw and smoothed; the MLM part when there is one)."""
    steps = [r for r in history if r.get("kind") == "step"]
    x = [r["step"] for r in steps]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=[r.get("loss") for r in steps], mode="lines", name="loss",
                             line=dict(color="#bbbbbb", width=1)))
    fig.add_trace(go.Scatter(x=x, y=[r.get("smoothed_loss") for r in steps], mode="lines", name="smoothed",
                             line=dict(color=DEPTH_COLOURS[2], width=2)))
    if any(r.get("mlm_loss") is not None for r in steps):
        fig.add_trace(go.Scatter(x=x, y=[r.get("mlm_loss") for r in steps], mode="lines", name="MLM loss",
                                 line=dict(color=DEPTH_COLOURS[1], width=1, dash="dot")))
    return _layout(fig, title, xaxis_title="step", yaxis_title="loss")


def dev_curves_figure(histories: Mapping[str, Sequence[Mapping]], title: str | None = "Dev F1 per epoch") -> go.Figure:
    """Dev micro-F1 (solid) and macro-F1 (dashed) per epoch, one colour per run."""
    fig = go.Figure()
    palette = qualitative.Plotly
    for k, (name, history) in enumerate(histories.items()):
        epochs = [r for r in history if r.get("kind") == "epoch"]
        several = len(histories) > 1
        for key, dash, what, own in (("dev_micro_f1", "solid", "micro-F1", DEPTH_COLOURS[0]),
                                     ("dev_macro_f1", "dash", "macro-F1", DEPTH_COLOURS[2])):
            # One run: micro and macro in two colours. Several runs: one colour (and legend entry) per
            # run; solid is micro-F1, dashed macro-F1.
            colour = palette[k % len(palette)] if several else own
            fig.add_trace(go.Scatter(x=[r["epoch"] for r in epochs], y=[_percent(r.get(key)) for r in epochs],
                                     mode="lines+markers", name=esc(name) if several else what, legendgroup=esc(name),
                                     showlegend=not several or key == "dev_micro_f1",
                                     line=dict(color=colour, dash=dash),
                                     hovertemplate=f"epoch %{{x}}: {what} %{{y:.2f}}<extra>%{{fullData.name}}</extra>"))
    if len(histories) > 1 and title:
        title += " (solid: micro-F1, dashed: macro-F1)"
    return _layout(fig, title, xaxis_title="epoch", yaxis_title="dev F1 (%)", xaxis_dtick=1)


def learning_curve_figure(points: Sequence[Mapping], title: str | None = "Learning curve: dev macro-F1 by labelled documents") -> go.Figure:
    """Dev macro-F1 (%) against training documents, one marker per run (``Workspace.learning_curve``),
    joined in order of documents; hover names the run and its method."""
    fig = go.Figure(go.Scatter(
        x=[p["train_documents"] for p in points], y=[_percent(p["dev_macro_f1"]) for p in points],
        mode="lines+markers", line=dict(color=DEPTH_COLOURS[2]),
        customdata=[[esc(p["run"]), esc(p.get("method", ""))] for p in points],
        hovertemplate="%{customdata[0]} (%{customdata[1]}): %{x} documents, dev macro-F1 %{y:.2f}<extra></extra>"))
    # Counts of documents: ticks at the runs' own counts while they are few (two runs 4 documents
    # apart were ticked 72, 72.5, 73, …), whole numbers always.
    counts = sorted({int(p["train_documents"]) for p in points})
    fig.update_xaxes(tickformat=",d", **({"tickmode": "array", "tickvals": counts} if len(counts) <= 8 else {}))
    return _layout(fig, title, xaxis_title="training documents", yaxis_title="dev macro-F1 (%)")


def abstention_figure(curve: Sequence[Mapping], threshold: float | None = None,
                      title: str | None = "Abstaining below a confidence, on dev") -> go.Figure:
    """Precision and coverage (%) against the confidence threshold below which texts are set aside
    (``Calibration.dev["curve"]``: points ``{"threshold", "coverage", "precision"}``); a dashed line
    at the chosen ``threshold``."""
    fig = go.Figure()
    x = [p["threshold"] for p in curve]
    for key, name, colour in (("precision", "precision of the kept texts' labels", DEPTH_COLOURS[0]),
                              ("coverage", "texts kept (coverage)", DEPTH_COLOURS[2])):
        fig.add_trace(go.Scatter(x=x, y=[None if p[key] is None else _percent(p[key]) for p in curve],
                                 mode="lines+markers", name=name, line=dict(color=colour),
                                 hovertemplate="below %{x:.2f} set aside: " + name + " %{y:.1f} %<extra></extra>"))
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#555555", line_width=1)
    return _layout(fig, title, xaxis_title="abstain below this confidence", yaxis_title="%", yaxis_range=[0, 102])


def low_resource_figure(summary, title: str | None = "Low-resource: mean ± std over seeds (Figure 4)") -> go.Figure:
    """Bars with error bars from ``experiments.low_resource_summary`` (one group per method and fraction)."""
    fig = go.Figure()
    if summary is None or len(summary) == 0:
        return _layout(fig, title)
    groups = [f"{esc(m)} ({100 * float(f):g}%)" for m, f in zip(summary["method"], summary["fraction"])]
    seeds = [int(c) for c in summary["micro_f1_count"]]
    for metric, colour in (("micro_f1", DEPTH_COLOURS[0]), ("macro_f1", DEPTH_COLOURS[2])):
        std = [0.0 if s != s else float(s) for s in summary[f"{metric}_std"]]  # NaN (one seed) -> no bar
        fig.add_trace(go.Bar(name=metric.replace("_f1", "-F1"), x=groups, y=list(summary[f"{metric}_mean"]),
                             error_y=dict(type="data", array=std, visible=True), marker_color=colour, customdata=seeds,
                             hovertemplate="%{x}: %{y:.2f} ± %{error_y.array:.2f} over %{customdata} seeds<extra></extra>"))
    return _layout(fig, title, yaxis_title="F1 (%)", barmode="group", yaxis_range=[0, 100])


def scores_figure(by_depth: Mapping[int, Sequence[tuple[str, float]]], top: int = 5,
                  title: str | None = "Scores per depth (> 0: predicted)", predicted=None) -> go.Figure:
    """The ``top`` scores of each depth as horizontal bars, a predicted label in colour: those in
    ``predicted`` (a set of names; the model's decision), or without it those scoring above 0."""
    fig = go.Figure()
    for depth, items in by_depth.items():
        items = list(items)[:top]
        kept = [(label in predicted) if predicted is not None else s > 0 for label, s in items]
        fig.add_trace(go.Bar(
            y=[f"{esc(label)} " for label, _ in items], x=[score for _, score in items], orientation="h",
            name=f"depth {depth}", marker_color=[depth_colour(depth) if k else "#d9d9d9" for k in kept],
            hovertemplate="%{y}: %{x:.3f}<extra>depth " + str(depth) + "</extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.add_vline(x=0, line_color="#555555", line_width=1)
    n = sum(min(top, len(list(items))) for items in by_depth.values())
    # The legend goes under the axis (at the bottom of the figure, a fixed distance below the tick
    # labels at any height: placed relative to the plot, it covered them on short figures); the title has the top.
    below = dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0)
    return _layout(fig, title, height=max(260, 22 * n + 120), legend=below, margin_b=60)
