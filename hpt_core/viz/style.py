"""What every figure of ``hpt_core.viz`` shares: escaping user text for Plotly, the depth colours,
the legends and the layout.

Every string that comes from user data (label names, descriptions, run names) is passed through
:func:`esc` before it reaches a figure: Plotly renders a subset of HTML in hover text, tick labels
and annotations, and a label called ``<b>x</b>`` must show as typed. User text never goes into a
``hovertemplate`` itself (Plotly would expand ``%{...}`` in it): it goes in ``hovertext``,
``customdata`` or the trace name, which the template refers to.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.colors import qualitative

#: One colour per depth (depth 1 first); the root is grey.
DEPTH_COLOURS = qualitative.Set2
ROOT_COLOUR = "#9e9e9e"
HIGHLIGHT_COLOUR = "#d62728"
#: The paper's Figure 3b groups, rarest labels first (``metrics.frequency_quintile_macro_f1`` order).
QUINTILE_NAMES = ["<20%", "20–40%", "40–60%", "60–80%", ">80%"]
TOP_LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0)
BOTTOM_LEGEND = dict(orientation="h", yanchor="top", y=-0.01, xanchor="left", x=0)

def esc(text: object) -> str:
    """``text`` as literal text for Plotly (``&``, ``<`` and ``>`` escaped)."""
    return html.escape(str(text), quote=False)


def depth_colour(depth: int) -> str:
    return ROOT_COLOUR if depth <= 0 else DEPTH_COLOURS[(depth - 1) % len(DEPTH_COLOURS)]


def _layout(fig: go.Figure, title: str | None, height: int = 360, **kwargs) -> go.Figure:
    # A short legend fits in one row under the title; a longer one goes to the right, where it can
    # grow without covering the title or the plot.
    entries = sum(1 for trace in fig.data if getattr(trace, "showlegend", False) is not False and trace.name)
    legend = kwargs.pop("legend", None) or (TOP_LEGEND if entries <= 3 else
                                             dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02))
    # A legend above the plot gets its own band under the title (the title sits at the top of the
    # figure, the legend row below it), so neither covers the other.
    on_top = entries > 0 and legend.get("orientation") == "h" and legend.get("yanchor") == "bottom" \
        and legend.get("y", 1.0) >= 1.0
    top = (50 if title else 20) + (28 if on_top else 0)
    fig.update_layout(title=dict(text=esc(title), y=1.0, yref="container", yanchor="top", pad=dict(t=12))
                      if title else None, height=height,
                      margin=dict(l=10, r=10, t=top, b=10), legend=legend, **kwargs)
    return fig


def _percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * float(value)


# ---- the tree ------------------------------------------------------------------------------------
