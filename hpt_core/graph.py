"""Hierarchy injection (paper §4.1.2, eqs. 4–5).

The graph has one node per label (features: the virtual label words) and one virtual node per depth
(features: the template embeddings t_i). Tree edges and virtual-node edges point both ways, so that
the virtual nodes *receive* messages from their labels — the authors' public code only lets messages
flow label ← virtual node, which leaves the template with no hierarchy information. The template
fed to the encoder is ``t'_i = t_i + g_{t_i}``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import GATConv, GCNConv

from hpt_core.hierarchy import LabelHierarchy


def build_edge_index(hierarchy: LabelHierarchy, connection: str = "depth", seed: int = 0) -> torch.Tensor:
    """Edges of the label graph plus L virtual nodes, both directions.

    Node ``c < C`` is label c (label-index order); node ``C + i`` is the virtual node of depth ``i + 1``.
    ``connection``: ``"depth"`` joins t_i to the labels of depth i; ``"depth_increasing"`` to those of
    depths 1..i; ``"random"`` is ``"depth"`` plus one more, random virtual node per label (seeded).

    Returns:
        edge_index (2, E) long: row 0 = source, row 1 = target (PyG convention); no self loops.
    """
    n_labels = len(hierarchy.labels)
    pairs: set[tuple[int, int]] = set()
    for child, parent in enumerate(hierarchy.parent_index):
        if parent >= 0:
            pairs.add((parent, child))
    depths = np.asarray(hierarchy.depths)
    rng = np.random.default_rng(seed)
    for label, depth in enumerate(depths):
        virtual_depths = {depth}
        if connection == "depth_increasing":
            virtual_depths = set(range(depth, hierarchy.max_depth + 1))
        elif connection == "random" and hierarchy.max_depth > 1:
            others = [d for d in range(1, hierarchy.max_depth + 1) if d != depth]
            virtual_depths.add(int(rng.choice(others)))
        for d in virtual_depths:
            pairs.add((label, n_labels + d - 1))
    both_ways = sorted(pairs | {(b, a) for a, b in pairs})
    return torch.tensor(both_ways, dtype=torch.long).t().contiguous()


class HierarchyInjection(nn.Module):
    """K graph layers over labels + virtual nodes; returns the hierarchy-aware template.

    Each layer is ``g ← ReLU(conv(g, edges))`` (eq. 4, with PyG's ``GATConv`` or ``GCNConv``, self
    loops included), and the output is the residual ``t' = t + g_t`` (eq. 5).
    """

    def __init__(self, hidden_size: int, edge_index: torch.Tensor, n_labels: int, kind: str = "gat", layers: int = 1):
        super().__init__()
        conv = {"gat": lambda: GATConv(hidden_size, hidden_size, heads=1), "gcn": lambda: GCNConv(hidden_size, hidden_size)}[kind]
        self.convs = nn.ModuleList(conv() for _ in range(layers))
        self.register_buffer("edge_index", edge_index, persistent=True)
        self.n_labels = n_labels

    def forward(self, label_words: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        """
        Shapes:
            label_words (C, d), template (L, d) -> t' (L, d)
        """
        nodes = torch.cat([label_words, template], dim=0)
        for conv in self.convs:
            nodes = torch.relu(conv(nodes, self.edge_index))
        return template + nodes[self.n_labels :]
