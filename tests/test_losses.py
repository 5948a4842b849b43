import math

import pytest
import torch

from hpt_core.losses import bce_loss, mask_tokens, zmlce_loss


def test_zmlce_matches_equation_10_by_hand():
    # two groups (depths): labels 0,1 in group 0; labels 2,3,4 in group 1
    scores = torch.tensor([[2.0, -1.0, 0.5, -0.3, 1.2]])
    targets = torch.tensor([[1, 0, 0, 0, 1]])
    groups = torch.tensor([0, 0, 1, 1, 1])
    group0 = math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(-2.0))
    group1 = math.log(1 + math.exp(0.5) + math.exp(-0.3)) + math.log(1 + math.exp(-1.2))
    assert math.isclose(float(zmlce_loss(scores, targets, groups, 2)), group0 + group1, rel_tol=1e-6)


def test_zmlce_group_without_positive_only_pushes_negatives_below_zero():
    # a document whose path ends above the deepest level: no target at depth 2
    scores = torch.tensor([[3.0, -2.0, 0.7]])
    targets = torch.tensor([[1, 0, 0]])
    groups = torch.tensor([0, 1, 1])
    expected = math.log(1 + math.exp(-3.0)) + math.log(1 + math.exp(-2.0) + math.exp(0.7))
    assert math.isclose(float(zmlce_loss(scores, targets, groups, 2)), expected, rel_tol=1e-6)


def test_zmlce_is_batch_mean_and_stable_for_large_scores():
    scores = torch.tensor([[500.0, -500.0], [-500.0, 500.0]])
    targets = torch.tensor([[1, 0], [0, 1]])
    loss = zmlce_loss(scores, targets, torch.tensor([0, 0]), 1)
    assert torch.isfinite(loss) and float(loss) < 1e-6


def test_bce_sums_over_labels_and_averages_over_documents():
    scores = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    targets = torch.tensor([[1, 0], [0, 0]])
    per_doc = [math.log(2) + math.log(1 + math.exp(2.0)), math.log(1 + math.exp(1.0)) + math.log(1 + math.exp(-1.0))]
    assert math.isclose(float(bce_loss(scores, targets)), sum(per_doc) / 2, rel_tol=1e-6)


def test_masking_touches_only_candidates_at_the_requested_rate():
    torch.manual_seed(0)
    ids = torch.randint(5, 100, (64, 128))
    candidates = torch.zeros_like(ids, dtype=torch.bool)
    candidates[:, 1:100] = True
    masked, chosen = mask_tokens(ids, candidates, mask_token_id=4, vocab_size=100, probability=0.15)
    assert not chosen[~candidates].any()
    assert torch.equal(masked[~chosen], ids[~chosen])
    rate = chosen.sum().item() / candidates.sum().item()
    assert 0.13 < rate < 0.17
    share_mask = (masked[chosen] == 4).float().mean().item()
    assert 0.75 < share_mask < 0.85


@pytest.mark.parametrize("scale", [1.0, 40.0])
def test_zmlce_closed_form_gradient_is_autograds(scale):
    """The lexical channel's fit uses the closed form (no autograd graph): the same value and the
    same gradient as autograd through zmlce_loss, rows without a positive and large scores included."""
    from hpt_core.losses import zmlce_loss_and_grad

    generator = torch.Generator().manual_seed(0)
    scores = (scale * torch.randn(30, 12, generator=generator)).requires_grad_(True)
    targets = (torch.rand(30, 12, generator=generator) < 0.25).float()
    targets[0] = 0
    groups = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    value = zmlce_loss(scores, targets, groups, 3)
    value.backward()
    closed_value, closed_grad = zmlce_loss_and_grad(scores.detach(), targets, groups, 3)
    assert closed_value == pytest.approx(float(value.detach()), rel=1e-5)
    assert torch.allclose(closed_grad, scores.grad, atol=1e-6)


def test_the_blends_weighted_cross_entropy_in_closed_form_is_autograds():
    from hpt_core.losses import weighted_cross_entropy_and_grad

    generator = torch.Generator().manual_seed(1)
    scores = (3 * torch.randn(25, 7, generator=generator)).requires_grad_(True)
    classes = torch.randint(0, 7, (25,), generator=generator)
    weights = torch.rand(25, generator=generator) + 0.5
    value = (torch.nn.functional.cross_entropy(scores, classes, reduction="none") * weights).sum() / weights.sum()
    value.backward()
    closed_value, closed_grad = weighted_cross_entropy_and_grad(scores.detach(), classes, weights)
    assert closed_value == pytest.approx(float(value.detach()), rel=1e-6)
    assert torch.allclose(closed_grad, scores.grad, atol=1e-6)
