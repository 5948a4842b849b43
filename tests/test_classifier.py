"""The classifier that composes the trained model with its lexical channel and blend (hpt_core.classifier)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hpt_core.classifier import PIPELINE_NAME, HTCClassifier, as_classifier, model_scores
from hpt_core.errors import HPTInputError
from hpt_core.model import HPTModel

#: A model folder saved by ``HPTModel.save_pretrained`` before the classifier existed (commit fd59ea4):
#: a tiny random BERT trained one epoch with the small-data recipe (a lexical channel), a blend fitted
#: on noise scores attached; the parts are flags in its config.json. ``.expected.json``: its scores then.
LEGACY = Path(__file__).parent / "fixtures" / "model_folder_fd59ea4"


@pytest.fixture()
def legacy(tmp_path) -> Path:
    folder = tmp_path / "legacy"
    shutil.copytree(LEGACY, folder)
    return folder


def _expected() -> dict:
    return json.loads((LEGACY.parent / f"{LEGACY.name}.expected.json").read_text(encoding="utf-8"))


def test_a_folder_saved_before_the_classifier_existed_loads_and_scores_as_it_did(legacy):
    expected = _expected()
    classifier = HTCClassifier.from_pretrained(legacy)
    assert classifier.lexical is not None and classifier.blend is not None
    texts = expected["texts"]
    assert np.allclose(classifier.predict_scores(texts).numpy(), expected["scores"], atol=1e-5)
    assert np.allclose(classifier.model_scores(texts).numpy(), expected["model_scores"], atol=1e-5)
    assert np.allclose(classifier.lexical.scores(texts).numpy(), expected["lexical_scores"], atol=1e-5)
    assert classifier.decision == expected["decision"]
    assert (classifier.pipeline.lexical_channel, classifier.pipeline.blend) == ("tfidf", "classical")


#: A classifier folder saved by the main of session 13 (commit b751057): ``pipeline.json`` of format 1
#: naming the parts, the pipeline's settings (a decision rule set to ``path``) still in ``config.json``.
BEFORE_SPLIT = Path(__file__).parent / "fixtures" / "model_folder_b751057"


def test_a_folder_saved_before_the_pipeline_config_existed_loads_with_its_decision_rule(tmp_path):
    from hpt_core.config import PipelineConfig
    from hpt_core.predict import Predictor

    folder = tmp_path / "before"
    shutil.copytree(BEFORE_SPLIT, folder)
    expected = json.loads((BEFORE_SPLIT.parent / f"{BEFORE_SPLIT.name}.expected.json").read_text(encoding="utf-8"))
    classifier = HTCClassifier.from_pretrained(folder)
    # its channel was fitted by the only fitter of its day, and says so
    assert classifier.pipeline == PipelineConfig(lexical_channel="tfidf", lexical_fit="logistic", blend="classical",
                                                 decision="path")
    assert np.allclose(classifier.predict_scores(expected["texts"]).numpy(), expected["scores"], atol=1e-5)
    predictions = Predictor(classifier).predict(expected["texts"])
    assert all(len(p.paths) == 1 for p in predictions)  # decided by its rule, one path each
    # saved again: the pipeline's settings move to pipeline.json; the model's config.json holds the model's only
    classifier.save_pretrained(folder)
    assert json.loads((folder / PIPELINE_NAME).read_text())["config"]["decision"] == "path"
    assert "decision" not in json.loads((folder / "config.json").read_text())["hpt"]
    assert HTCClassifier.from_pretrained(folder).pipeline == classifier.pipeline


def test_saving_names_the_parts_and_loading_restores_the_same_scores(legacy, tmp_path):
    classifier = HTCClassifier.from_pretrained(legacy)
    texts = _expected()["texts"]
    before = classifier.predict_scores(texts)
    folder = classifier.save_pretrained(tmp_path / "saved")
    assert json.loads((folder / PIPELINE_NAME).read_text()) == {
        "format": 2, "lexical": "tfidf", "blend": "classical", "familiarity": False,
        "config": {"lexical_channel": "tfidf", "lexical_fit": "logistic", "blend": "classical",
                   "decision": _expected()["decision"],
                   "familiarity": True}}  # a folder of before the check: fitted when a run of it ends, none here
    config = json.loads((folder / "config.json").read_text())
    assert "lexical_channel_fitted" not in config and "blend_fitted" not in config  # the model's file is the model's
    assert torch.allclose(HTCClassifier.from_pretrained(folder).predict_scores(texts), before, atol=1e-6)
    # The model alone loads from the same folder and gives the model's own part of the scores.
    bare = HPTModel.from_pretrained(folder)
    assert torch.allclose(model_scores(bare, texts), classifier.model_scores(texts), atol=1e-6)
    assert torch.allclose(as_classifier(bare).predict_scores(texts), classifier.model_scores(texts), atol=1e-6)
    # Removing a part and saving again leaves no trace of it.
    classifier.blend = None
    classifier.save_pretrained(folder)
    assert json.loads((folder / PIPELINE_NAME).read_text())["blend"] is None
    assert not (folder / "blend.json").exists() and HTCClassifier.from_pretrained(folder).blend is None


def test_the_document_score_is_the_models_plus_the_channels_through_the_blend(legacy):
    from hpt_core.blend import blended_scores

    classifier = HTCClassifier.from_pretrained(legacy)
    texts = _expected()["texts"]
    own = classifier.model_scores(texts)
    summed = own + classifier.lexical.scores(texts)
    assert torch.allclose(classifier.predict_scores(texts, blend=False), summed, atol=1e-6)
    assert torch.allclose(classifier.predict_scores(texts, lexical=False, blend=False), own, atol=1e-6)
    blended = blended_scores(summed.numpy(), classifier.blend.probabilities(texts), classifier.blend.model_weight)
    assert np.allclose(classifier.predict_scores(texts).numpy(), blended, atol=1e-5)


def test_a_damaged_pipeline_file_or_a_missing_part_is_one_clear_line(legacy, tmp_path):
    folder = HTCClassifier.from_pretrained(legacy).save_pretrained(tmp_path / "saved")
    (folder / PIPELINE_NAME).write_text(json.dumps({"format": 99, "lexical": "tfidf", "blend": None}))
    with pytest.raises(HPTInputError, match="format 99, not one this version reads") as raised:
        HTCClassifier.from_pretrained(folder)
    assert len(str(raised.value).splitlines()) == 1
    (folder / PIPELINE_NAME).write_text("{")
    with pytest.raises(HPTInputError, match=PIPELINE_NAME):
        HTCClassifier.from_pretrained(folder)
    (folder / PIPELINE_NAME).write_text(json.dumps({"format": 2, "lexical": "tfidf", "blend": None,
                                                    "config": {"decision": "maybe"}}))
    with pytest.raises(HPTInputError, match="decision must be one of") as raised:
        HTCClassifier.from_pretrained(folder)
    assert len(str(raised.value).splitlines()) == 1
    (folder / PIPELINE_NAME).write_text(json.dumps({"format": 1, "lexical": "tfidf", "blend": None}))
    (folder / "lexical.safetensors").unlink()
    with pytest.raises(HPTInputError, match="not a usable model folder: the lexical channel"):
        HTCClassifier.from_pretrained(folder)


def test_batch_scores_come_back_in_input_order_although_batched_by_length(legacy):
    classifier = HTCClassifier.from_pretrained(legacy)
    texts = ["goal", "a painting in the gallery today and some more news about this", "qubit laser", "cell"]
    together = classifier.predict_scores(texts, batch_size=2)
    alone = torch.cat([classifier.predict_scores([t]) for t in texts])
    assert torch.allclose(together, alone, atol=1e-5)
