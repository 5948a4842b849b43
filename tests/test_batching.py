import torch

from hpt_core.batching import (LengthGroupedSampler, epoch_batches, length_grouped_indices, padding_fraction,
                               random_order, sorted_batches)

# Skewed lengths, like WOS abstracts: most short, a few that fill the window.
LENGTHS = [int(x) for x in torch.randint(20, 300, (400,), generator=torch.Generator().manual_seed(1))] + [512] * 16


def test_length_grouped_order_is_a_permutation_that_pads_far_less_than_random_batches():
    order = list(LengthGroupedSampler(LENGTHS, batch_size=16, seed=3))
    assert sorted(order) == list(range(len(LENGTHS)))
    grouped = padding_fraction(LENGTHS, epoch_batches(order, 16))
    at_random = padding_fraction(LENGTHS, epoch_batches(random_order(len(LENGTHS), 3), 16))
    assert grouped < 0.5 * at_random


def test_the_first_batch_holds_the_longest_document():
    order = length_grouped_indices(LENGTHS, 16, torch.Generator().manual_seed(0))
    assert max(LENGTHS[i] for i in order[:16]) == max(LENGTHS)


def test_every_process_draws_the_same_order_and_each_epoch_a_new_one():
    a, b = LengthGroupedSampler(LENGTHS, 16, seed=7), LengthGroupedSampler(LENGTHS, 16, seed=7)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and sorted(a) == sorted(first)
    # mega-batches keep training random: the batches of two epochs are not the same sets
    assert {frozenset(x) for x in epoch_batches(first, 16)} != {frozenset(x) for x in epoch_batches(list(a), 16)}


def test_sorted_batches_cover_every_index_once_and_respect_the_window_budget():
    lengths = [5, 50, 7, 300, 12, 40]
    windows = [1, 1, 1, 3, 1, 2]
    batches = sorted_batches(lengths, max_items=3, weights=windows)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(sum(windows[i] for i in b) <= 3 for b in batches)
    assert batches[0] == [3]  # longest first
    assert padding_fraction(lengths, sorted_batches(lengths, 2)) < padding_fraction(lengths, [[0, 3], [1, 2], [4, 5]])
