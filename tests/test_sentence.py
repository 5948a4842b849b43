"""Sentence embeddings (hpt_core.sentence): what the zero-shot predictor and the tfidf+sentence
lexical channel read."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def encoder(tiny_backbone):
    from hpt_core.backbone import load_backbone
    from hpt_core.sentence import FrozenSentenceEncoder

    mlm, tokenizer = load_backbone(tiny_backbone)
    return FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, max_length=16), mlm


TEXTS = ["goal striker", "a much longer text about laser mirrors and photons in a lab", "", "match"]


def test_batched_embeddings_are_unit_vectors_in_input_order(encoder):
    frozen, _ = encoder
    together = frozen.embed(TEXTS, batch_size=2)  # sorted by length inside, returned in input order
    one_by_one = np.concatenate([frozen.embed([t]) for t in TEXTS])
    assert together.shape == (len(TEXTS), frozen.width)
    assert np.allclose(together, one_by_one, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert frozen.embed([]).shape == (0, frozen.width)


def test_the_frozen_copy_does_not_follow_the_model_and_survives_saving(tiny_backbone, tmp_path):
    import torch

    from hpt_core.backbone import load_backbone
    from hpt_core.sentence import FrozenSentenceEncoder

    mlm, tokenizer = load_backbone(tiny_backbone)  # its own copy: the weights are changed below
    frozen = FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, max_length=16)
    before = frozen.embed(TEXTS)
    with torch.no_grad():  # "training" the model's own encoder
        for p in mlm.base_model.parameters():
            p.add_(0.5)
    assert np.allclose(frozen.embed(TEXTS), before)
    frozen.save(tmp_path)
    loaded = FrozenSentenceEncoder.load(tmp_path, mlm.config.to_dict(), frozen.tokenizer, frozen.max_length)
    assert np.allclose(loaded.embed(TEXTS), before, atol=1e-6)  # weights rounded to bf16 once, when copied
    assert not any(p.requires_grad for p in loaded.encoder.parameters())
