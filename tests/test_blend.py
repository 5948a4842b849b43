"""The classical blend: the model's scores mixed with the classical TF-IDF + embeddings classifier's
probabilities, the model's weight chosen on dev (``hpt_core.blend``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hpt_core.blend import (BLEND_CONFIG, BLEND_ENCODER, ENCODER_MAX_LENGTH, MODEL_WEIGHTS, ClassicalBlend,
                            blended_scores, fit_classical_blend, leaf_targets, subtree_matrix)
from hpt_core.errors import HPTInputError
from hpt_core.familiarity import FAMILIARITY_ENCODER
from hpt_core.hierarchy import LabelHierarchy


def _docs(hierarchy, task_files, split):
    from hpt_core.data import read_corpus

    return read_corpus(task_files[split], hierarchy)


@pytest.fixture(scope="module")
def encoder(tiny_backbone):
    from hpt_core.backbone import load_backbone
    from hpt_core.sentence import FrozenSentenceEncoder

    mlm, tokenizer = load_backbone(tiny_backbone)
    return FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, 32)


@pytest.fixture(scope="module")
def fitted(hierarchy, task_files, encoder):
    """A blend fitted with *useless* model scores (noise): dev must give the classical part the most weight."""
    train, dev = _docs(hierarchy, task_files, "train"), _docs(hierarchy, task_files, "dev")
    targets, _ = leaf_targets(train, hierarchy)
    noise = np.random.default_rng(0).normal(size=(len(dev), len(hierarchy.labels))).astype(np.float32)
    return fit_classical_blend([d.text for d in train], targets, [d.text for d in dev],
                               hierarchy.multi_hot([d.labels for d in dev]), noise, hierarchy, encoder)


def test_weight_one_is_the_model_and_weight_zero_the_classical_classifier():
    s = np.array([[-3.0, 0.5, 8.0]], dtype=np.float32)
    q = np.array([[0.2, 0.9, 0.5]], dtype=np.float32)
    assert np.allclose(blended_scores(s, q, 1.0), s, atol=1e-4)
    # Far-negative scores keep their order (no common floor that would tie them for the path rule).
    far = blended_scores(np.array([[-40.0, -30.0]]), np.array([[0.0, 0.0]]), 0.5)
    assert far[0, 0] < far[0, 1] < -20
    assert np.allclose(blended_scores(s, q, 0.0), np.log(q / (1 - q)), atol=1e-4)
    mixed = blended_scores(s, q, 0.5)
    assert np.all(np.isfinite(blended_scores(np.array([[1e6, -1e6]]), np.array([[1.0, 0.0]]), 0.5)))
    # A label is predicted (score > 0) when the mean of the two probabilities passes one half.
    assert (mixed > 0).tolist() == [[False, True, True]]


def test_a_parent_is_as_likely_as_its_subtree():
    h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A", "A2"), ("Root", "B")])
    classes = [h.label_to_index[x] for x in ("A1", "A2", "B")]
    to_labels = subtree_matrix(classes, h)
    q = np.array([[0.5, 0.3, 0.2]]) @ to_labels
    assert q[0, h.label_to_index["A"]] == pytest.approx(0.8)
    assert q[0, h.label_to_index["A1"]] == pytest.approx(0.5) and q[0, h.label_to_index["B"]] == pytest.approx(0.2)


def test_useless_model_scores_get_the_least_weight_and_the_blend_classifies(fitted, hierarchy, task_files):
    """The synthetic task is lexical: the classical part alone names every test leaf. With noise for
    model scores, dev chooses a weight that leaves the noise the smaller share (the best dev figure;
    ties go to the model), and the blend still gets the test paths."""
    from hpt_core.decoding import decide
    from hpt_core.metrics import micro_f1

    blend, dev_probabilities = fitted
    by_weight = blend.choice["dev_macro_f1_by_model_weight"]
    assert set(by_weight) == {repr(float(a)) for a in MODEL_WEIGHTS}
    assert by_weight[repr(blend.model_weight)] == max(by_weight.values()) > by_weight["1.0"] + 0.3
    assert blend.model_weight <= 0.5
    assert blend.model_weight == max(a for a in MODEL_WEIGHTS if by_weight[repr(float(a))] == max(by_weight.values()))
    test = _docs(hierarchy, task_files, "test")
    noise = np.random.default_rng(1).normal(size=(len(test), len(hierarchy.labels))).astype(np.float32)
    scores = blend.scores(noise, [d.text for d in test]).numpy()
    y = hierarchy.multi_hot([d.labels for d in test])
    assert micro_f1(y, decide(scores, hierarchy, "path")) > 0.9
    assert dev_probabilities.shape == (len(_docs(hierarchy, task_files, "dev")), len(hierarchy.labels))


def test_save_and_load_round_trip_and_damage(fitted, hierarchy, tiny_backbone, tmp_path):
    from hpt_core.backbone import load_backbone

    blend, _ = fitted
    blend.save(tmp_path)
    mlm, tokenizer = load_backbone(tiny_backbone)
    loaded = ClassicalBlend.load(tmp_path, hierarchy, mlm.config.to_dict(), tokenizer)
    texts = ["goal striker pitch", "laser lens"]
    assert np.allclose(loaded.probabilities(texts), blend.probabilities(texts), atol=1e-6)
    assert loaded.model_weight == blend.model_weight and loaded.classes == blend.classes
    meta = json.loads((tmp_path / BLEND_CONFIG).read_text())
    meta["classes"][0] = "no such label"
    (tmp_path / BLEND_CONFIG).write_text(json.dumps(meta))
    with pytest.raises(HPTInputError, match="broken classical blend .*no such label"):
        ClassicalBlend.load(tmp_path, hierarchy, mlm.config.to_dict(), tokenizer)
    (tmp_path / BLEND_ENCODER).unlink()
    with pytest.raises(HPTInputError, match="blend_encoder.safetensors\\) is missing"):
        ClassicalBlend.load(tmp_path, hierarchy, mlm.config.to_dict(), tokenizer)


def test_one_training_label_leaves_no_classifier_to_fit(hierarchy, encoder):
    assert fit_classical_blend(["a", "b"], ["football", "football"], ["c"], np.zeros((1, len(hierarchy.labels))),
                               np.zeros((1, len(hierarchy.labels))), hierarchy, encoder) is None


def test_training_fits_the_blend_and_every_consumer_scores_with_it(tmp_path, tiny_backbone, task_files):
    """Through the one training loop: fitted after training, saved in the model folder, restored by
    ``from_pretrained``; ``metrics.json``, ``evaluate`` and the ``Predictor`` agree; the CLI removes
    it and fits it again on the finished run."""
    from hpt_core.cli import main
    from hpt_core.config import DataSpec, RunConfig, TrainConfig
    from hpt_core.recipes import pipeline_recipe
    from hpt_core.evaluation import evaluate_run
    from hpt_core.methods import resolve_method
    from hpt_core.classifier import HTCClassifier
    from hpt_core.predict import Predictor
    from hpt_core.training import train

    # A weak model (one epoch at a tiny learning rate, no lexical channel) on a lexical task: dev gives
    # the classical part a share.
    config = RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                       model=resolve_method("hpt", recipe="small-data", backbone=tiny_backbone, max_length=32),
                       train=TrainConfig(epochs=1, batch_size=8, lr=1e-6, new_params_lr=1e-6, seed=0),
                       pipeline=pipeline_recipe("small-data", lexical_channel=None))
    assert config.pipeline.blend == "classical"
    run = tmp_path / "run"
    metrics = train(config, run)
    assert metrics["blend"]["model_weight"] < 1.0, metrics["blend"]
    assert (run / "model" / BLEND_ENCODER).is_file()
    model = HTCClassifier.from_pretrained(run / "model")
    assert model.blend is not None and model.blend.model_weight == metrics["blend"]["model_weight"]
    # the blend's encoder reads its own 128 tokens (the tiny backbone has 128 positions), not the model's 32
    assert model.blend.sentence.max_length == ENCODER_MAX_LENGTH == 128 != config.model.max_length
    report = evaluate_run(run, task_files["test"])
    assert report["macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])
    text = "goal striker penalty"
    model.blend.model_weight = 0.25  # whatever dev chose, the classical part must show in every score
    blended = model.predict_scores([text])
    predicted = Predictor(model).predict([text])[0].scores
    assert np.allclose([predicted[label] for label in model.hierarchy.labels], blended[0].numpy(), atol=1e-5)
    own = model.predict_scores([text], blend=False)
    expected = blended_scores(own.numpy(), model.blend.probabilities([text]), model.blend.model_weight)
    assert np.allclose(blended.numpy(), expected, atol=1e-5) and not np.allclose(blended.numpy(), own.numpy(), atol=1e-2)
    # the familiarity check was fitted from the blend's embeddings and shares its encoder (no second copy)
    assert metrics["familiarity"]["threshold"] == pytest.approx(model.familiarity.threshold, abs=1e-4)
    assert model.familiarity.sentence is model.blend.sentence and not (run / "model" / FAMILIARITY_ENCODER).exists()
    assert isinstance(Predictor(model).predict([text])[0].familiarity, float)

    assert main(["blend", "--run-dir", str(run), "--blend", "none"]) == 0
    assert HTCClassifier.from_pretrained(run / "model").blend is None
    assert not (run / "model" / BLEND_ENCODER).exists()
    assert HTCClassifier.from_pretrained(run / "model").familiarity is not None  # it keeps its encoder now
    assert (run / "model" / FAMILIARITY_ENCODER).is_file()
    assert "blend" not in json.loads((run / "metrics.json").read_text())
    assert main(["blend", "--run-dir", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["blend"]["model_weight"] in MODEL_WEIGHTS


def test_the_blend_encoder_never_reads_past_the_backbone_positions():
    from types import SimpleNamespace

    from hpt_core.blend import encoder_max_length

    assert encoder_max_length(SimpleNamespace(config=SimpleNamespace(max_position_embeddings=512))) == ENCODER_MAX_LENGTH
    assert encoder_max_length(SimpleNamespace(config=SimpleNamespace(max_position_embeddings=64))) == 64


def test_the_paper_recipe_has_no_blend_and_bad_values_are_refused():
    from hpt_core.config import PipelineConfig
    from hpt_core.recipes import pipeline_recipe

    assert pipeline_recipe("paper").blend is None and PipelineConfig().blend is None
    with pytest.raises(HPTInputError, match="blend must be classical or None"):
        PipelineConfig(blend="ensemble")


def test_blending_a_missing_run_is_one_clear_line(tmp_path, capsys):
    from hpt_core.cli import main

    assert main(["blend", "--run-dir", str(tmp_path / "nope")]) != 0
    err = capsys.readouterr().err
    assert "run folder not found" in err and len(err.strip().splitlines()) == 1


def test_a_model_best_alone_on_dev_keeps_no_blend(tmp_path, tiny_backbone, task_files):
    """When dev gives the model the whole weight, nothing of the blend is kept (no second encoder to
    pay for), and metrics.json says why."""
    from hpt_core.config import DataSpec, RunConfig, TrainConfig
    from hpt_core.recipes import pipeline_recipe
    from hpt_core.methods import resolve_method
    from hpt_core.classifier import HTCClassifier
    from hpt_core.training import train

    config = RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                       model=resolve_method("hpt", recipe="small-data", backbone=tiny_backbone, max_length=32),
                       train=TrainConfig(epochs=2, batch_size=8, lr=3e-3, seed=0), pipeline=pipeline_recipe("small-data"))
    metrics = train(config, tmp_path / "run")
    assert metrics["blend"]["model_weight"] == 1.0 and "model alone" in metrics["blend"]["skipped"]
    assert HTCClassifier.from_pretrained(tmp_path / "run" / "model").blend is None
    assert not (tmp_path / "run" / "model" / BLEND_ENCODER).exists()
    # the familiarity check stays, with its own copy of the frozen encoder
    assert HTCClassifier.from_pretrained(tmp_path / "run" / "model").familiarity is not None
    assert (tmp_path / "run" / "model" / FAMILIARITY_ENCODER).is_file()


def test_multi_path_documents_teach_every_path(multi_path_task_files, encoder):
    """On a multi-path corpus each document's path ends are rows of weight 1/k: a text of two
    leaves gets both leaves (and their ancestors) as its most likely labels, not one of them."""
    from hpt_core.blend import path_ends
    from hpt_core.data import read_corpus
    from hpt_core.decoding import paths_per_document

    h = LabelHierarchy.read(multi_path_task_files["taxonomy"])
    train = read_corpus(multi_path_task_files["train"], h)
    dev = read_corpus(multi_path_task_files["dev"], h)
    ends = path_ends(train, h)
    assert sum(len(e) > 1 for e in ends) > len(train) // 2
    assert all(len(e) == n for e, n in zip(ends, paths_per_document(h.multi_hot([d.labels for d in train]), h)))
    dev_y = h.multi_hot([d.labels for d in dev])
    noise = np.random.default_rng(0).normal(size=dev_y.shape).astype(np.float32)
    blend, _ = fit_classical_blend([d.text for d in train], ends, [d.text for d in dev], dev_y, noise, h, encoder)
    assert blend.choice["multi_path_train_documents"] == sum(len(e) > 1 for e in ends)
    q = blend.probabilities(["goal striker qubit spin", "racket serve laser lens"])
    leaves = [i for i, label in enumerate(h.labels) if not h.children(label)]
    for row, pair in zip(q, (("football", "quantum"), ("tennis", "optics"))):
        top_two = {h.labels[i] for i in sorted(leaves, key=lambda i: -row[i])[:2]}
        assert top_two == set(pair)
        # each path keeps a real share (a one-path fit gives the second leaf almost nothing); the
        # bounded fit at C = 1000 splits this one 0.76 / 0.24, scikit-learn's converged fit more evenly
        assert all(row[h.label_to_index[leaf]] > 0.2 for leaf in pair)


def test_a_fitting_sample_bounds_the_classifier_and_its_encoder_pass(hierarchy, task_files, encoder, monkeypatch):
    """Above ``max_documents`` the classical classifier is fitted, and its frozen encoder run, on a
    seeded sample of that many training documents; the blend says so."""
    from hpt_core import blend as blend_module

    train, dev = _docs(hierarchy, task_files, "train"), _docs(hierarchy, task_files, "dev")
    targets, _ = leaf_targets(train, hierarchy)
    limit = len(train) // 2
    rows_fitted, embedded = [], []
    real_fit, real_embed = blend_module.fit_linear, blend_module.embed_frozen
    monkeypatch.setattr(blend_module, "fit_linear",
                        lambda features, *a, **k: rows_fitted.append(features.shape[0]) or real_fit(features, *a, **k))
    monkeypatch.setattr(blend_module, "embed_frozen",
                        lambda sentence, texts, progress=False: embedded.append(len(texts)) or real_embed(sentence, texts, progress))
    dev_scores = np.zeros((len(dev), len(hierarchy.labels)), dtype=np.float32)
    blend, _ = fit_classical_blend([d.text for d in train], targets, [d.text for d in dev],
                                   hierarchy.multi_hot([d.labels for d in dev]), dev_scores, hierarchy, encoder,
                                   max_documents=limit, seed=1)
    assert rows_fitted and max(rows_fitted) == limit  # single-path: one row a document
    assert embedded == [limit, len(dev)]
    assert blend.choice["fit_documents"] == limit and blend.choice["train_documents"] == len(train)
