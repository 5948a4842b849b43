"""Which documents share a batch: length-grouped training batches and sorted inference batches.

A batch is padded to its longest member, so a batch of random documents pays for its longest one:
on WOS abstracts at 512 tokens about half of all random batches of 16 hold a text that fills the
window while the median text needs half of it. Grouping documents of similar length removes most of
that padding.

- Training: ``LengthGroupedSampler`` does what Hugging Face's ``group_by_length`` does — shuffle
  every epoch, cut the permutation into mega-batches of ``mega_batch_mult × batch_size`` documents
  and sort each mega-batch by length, so consecutive batches hold similar lengths while the order of
  documents and batches stays random. The permutation depends only on ``seed`` and the epoch, so
  every process of a multi-process run draws the same one (``accelerate`` then deals out whole
  batches).
- Inference: ``sorted_batches`` sorts all documents by length; results are put back in input order
  by the caller (``hpt_core.classifier.model_scores``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

#: Documents per mega-batch, in batches; Hugging Face's default.
MEGA_BATCH_MULT = 50


def length_grouped_indices(lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                           mega_batch_mult: int = MEGA_BATCH_MULT) -> list[int]:
    """A random permutation of ``range(len(lengths))`` in which runs of ``batch_size`` have similar lengths.

    The permutation is cut into mega-batches of ``mega_batch_mult * batch_size`` indices, each sorted
    by length (longest first); the batch holding the longest document overall is moved to the front,
    so that a run that would run out of memory does so at its first step, not hours later.

    >>> g = torch.Generator().manual_seed(0)
    >>> order = length_grouped_indices([5, 1, 9, 3, 7, 2], batch_size=2, generator=g)
    >>> sorted(order) == list(range(6)), order[0] == 2
    (True, True)
    """
    n = len(lengths)
    if n == 0:
        return []
    # Small datasets: a mega-batch of at least 4 batches, but never a single one (no randomness left).
    mega_batch_mult = max(1, min(mega_batch_mult, n // (batch_size * 4)))
    size = mega_batch_mult * batch_size
    permutation = torch.randperm(n, generator=generator).tolist()
    megas = [sorted(permutation[i : i + size], key=lambda j: -lengths[j]) for i in range(0, n, size)]
    # The longest document leads its mega-batch; swap that mega-batch's first batch to the front.
    longest = max(range(len(megas)), key=lambda m: lengths[megas[m][0]])
    megas[0][:batch_size], megas[longest][:batch_size] = megas[longest][:batch_size], megas[0][:batch_size]
    return [i for mega in megas for i in mega]


class LengthGroupedSampler(torch.utils.data.Sampler[int]):
    """Training order with length-grouped batches (see the module docstring).

    Args:
        lengths: the length of each example (tokens; what its padded row costs).
        batch_size: documents per batch *per process* (as given to the ``DataLoader``).
        seed: the permutation of epoch ``e`` is drawn from ``seed + e``; identical on every process.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, mega_batch_mult: int = MEGA_BATCH_MULT):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mega_batch_mult = mega_batch_mult
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(length_grouped_indices(self.lengths, self.batch_size, generator, self.mega_batch_mult))


def sorted_batches(lengths: Sequence[int], max_items: int, weights: Sequence[int] | None = None) -> list[list[int]]:
    """Indices sorted by length (longest first) and cut into batches for inference.

    ``weights`` (default 1 each) is what an index costs against ``max_items`` (e.g. its number of
    windows): a batch takes indices until the next one would pass ``max_items`` (at least one).

    >>> sorted_batches([3, 9, 1, 7], max_items=2)
    [[1, 3], [0, 2]]
    >>> sorted_batches([3, 9, 1, 7], max_items=3, weights=[1, 3, 1, 1])
    [[1], [3, 0, 2]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    weights = [1] * len(lengths) if weights is None else list(weights)
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in order:
        if current and used + weights[i] > max_items:
            batches.append(current)
            current, used = [], 0
        current.append(i)
        used += weights[i]
    if current:
        batches.append(current)
    return batches


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of the padded batch cells that are padding: ``1 - Σ len / Σ (batch size × longest)``.

    >>> padding_fraction([2, 4, 4, 4], [[0, 1], [2, 3]])
    0.125
    """
    real = padded = 0
    for batch in batches:
        members = [lengths[i] for i in batch]
        real += sum(members)
        padded += len(members) * max(members, default=0)
    return 1.0 - real / padded if padded else 0.0


def epoch_batches(order: Sequence[int], batch_size: int) -> list[list[int]]:
    """Consecutive runs of ``batch_size`` indices, the way a ``DataLoader`` cuts a sampler's order."""
    order = list(order)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def random_order(n: int, seed: int) -> list[int]:
    """A seeded random permutation (the ``"random"`` batching's order, for padding comparisons)."""
    return np.random.default_rng(seed).permutation(n).tolist()
