"""Plotly figures of hierarchies, datasets and runs (no Streamlit here: the app and notebooks share
them). ``viz.style``: escaping and colours every figure shares; ``viz.trees``: label trees (node-link,
icicle, the prediction view); ``viz.charts``: datasets and runs. Callers use ``viz.<figure>``."""

from hpt_core.viz.charts import (abstention_figure, dev_curves_figure, documents_per_depth_figure,
                                 documents_per_label_figure, label_frequency_histogram, learning_curve_figure,
                                 loss_figure, low_resource_figure, per_depth_figure, quintile_figure, scores_figure)
from hpt_core.viz.style import (BOTTOM_LEGEND, DEPTH_COLOURS, HIGHLIGHT_COLOUR, QUINTILE_NAMES, ROOT_COLOUR, TOP_LEGEND,
                                depth_colour, esc)
from hpt_core.viz.trees import (DIM_COLOUR, EMPHASIS_ROWS, FRAME_PX, ICICLE_ROWS, MAX_HEIGHT, MAX_NAMED_NODES, NAMED_ROWS,
                                PATH_SHARE, ROW_PX, clicked_label, crowded_branch,
                                icicle_figure, icicle_level, icicle_maxdepth, label_tree_figure, tree_figure,
                                tree_positions)

__all__ = ["BOTTOM_LEGEND", "DEPTH_COLOURS", "DIM_COLOUR", "EMPHASIS_ROWS", "HIGHLIGHT_COLOUR", "ICICLE_ROWS",
           "MAX_HEIGHT", "MAX_NAMED_NODES", "NAMED_ROWS", "PATH_SHARE", "ROW_PX", "FRAME_PX", "QUINTILE_NAMES", "ROOT_COLOUR", "TOP_LEGEND", "abstention_figure",
           "clicked_label", "crowded_branch", "depth_colour", "dev_curves_figure", "documents_per_depth_figure",
           "documents_per_label_figure", "esc", "icicle_figure", "icicle_level", "icicle_maxdepth",
           "label_frequency_histogram", "label_tree_figure", "learning_curve_figure", "loss_figure",
           "low_resource_figure", "per_depth_figure", "quintile_figure", "scores_figure", "tree_figure",
           "tree_positions"]
