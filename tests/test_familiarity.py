"""The warning for texts unlike the training texts (hpt_core.familiarity)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpt_core.errors import HPTInputError
from hpt_core.familiarity import FAMILIARITY_CONFIG, FAMILIARITY_ENCODER, Familiarity, nearest_similarity


@pytest.fixture(scope="module")
def encoder(tiny_backbone):
    from hpt_core.backbone import load_backbone
    from hpt_core.sentence import FrozenSentenceEncoder

    mlm, tokenizer = load_backbone(tiny_backbone)
    return FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, 32)


def _clusters(n: int, seed: int, centre: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return centre + 0.1 * rng.standard_normal((n, centre.shape[0])).astype(np.float32)


def test_the_threshold_flags_the_chosen_share_of_dev_and_a_text_from_elsewhere():
    centre = np.zeros(16, dtype=np.float32)
    centre[0] = 1.0
    train, dev = _clusters(300, 0, centre), _clusters(200, 1, centre)
    familiarity = Familiarity.fit(train, dev, quantile=0.05)
    dev_similarity = familiarity.similarity(dev)
    assert np.mean(dev_similarity < familiarity.threshold) == pytest.approx(0.05, abs=0.01)
    elsewhere = np.zeros((1, 16), dtype=np.float32)
    elsewhere[0, 1] = 1.0  # orthogonal to every training text
    assert familiarity.similarity(elsewhere)[0] < familiarity.threshold
    assert "unlike the texts the model learnt from" in familiarity.warning(float(familiarity.similarity(elsewhere)[0]))
    assert familiarity.warning(float(familiarity.similarity(train[:1])[0])) is None
    assert familiarity.warning(None) is None  # no check: no warning


def test_the_reference_is_bounded_and_the_mean_of_k_neighbours():
    centre = np.ones(8, dtype=np.float32)
    familiarity = Familiarity.fit(_clusters(500, 0, centre), _clusters(20, 1, centre), max_reference=100, seed=3)
    assert familiarity.reference.shape == (100, 8) and familiarity.dev["train_documents"] == 500
    reference = np.eye(4, dtype=np.float32)
    assert nearest_similarity(reference[:1], reference, 1).tolist() == [1.0]
    assert nearest_similarity(reference[:1], reference, 4).tolist() == [0.25]  # one match of four
    assert Familiarity.fit(np.zeros((0, 8)), _clusters(5, 1, centre)) is None


def test_saved_with_its_own_encoder_or_the_blends_it_restores_the_same_similarities(encoder, tmp_path, tiny_backbone):
    from hpt_core.backbone import load_backbone
    from hpt_core.blend import embed_frozen

    texts = ["goal striker penalty", "laser mirror photon", "cell gene protein", "a quiet afternoon"]
    embedded = embed_frozen(encoder, texts)
    familiarity = Familiarity.fit(embedded, embedded[:2], sentence=encoder)
    mlm, tokenizer = load_backbone(tiny_backbone)
    own = tmp_path / "own"
    own.mkdir()
    familiarity.save(own, encoder_shared=False)
    assert (own / FAMILIARITY_ENCODER).is_file()
    again = Familiarity.load(own, mlm.config.to_dict(), tokenizer)
    assert again.threshold == familiarity.threshold
    assert np.allclose(again.similarity(embed_frozen(again.sentence, texts)), familiarity.similarity(embedded), atol=2e-2)
    shared = tmp_path / "shared"
    shared.mkdir()
    familiarity.save(shared, encoder_shared=True)
    assert not (shared / FAMILIARITY_ENCODER).exists()  # the blend's file holds it
    assert Familiarity.load(shared, mlm.config.to_dict(), tokenizer, blend_sentence=encoder).sentence is encoder
    with pytest.raises(HPTInputError, match="familiarity check.*no blend") as raised:
        Familiarity.load(shared, mlm.config.to_dict(), tokenizer)
    assert len(str(raised.value).splitlines()) == 1
    (shared / FAMILIARITY_CONFIG).write_text("{")
    with pytest.raises(HPTInputError, match="not a usable model folder: broken familiarity check"):
        Familiarity.load(shared, mlm.config.to_dict(), tokenizer, blend_sentence=encoder)


def test_a_predictor_warns_below_the_threshold_and_says_how_familiar_each_text_is(encoder, tmp_path, tiny_backbone,
                                                                                    hierarchy):
    """Through the classifier folder and the Predictor: each prediction carries its similarity, and
    the warning appears exactly when it is below the threshold; a folder without the check has none."""
    from hpt_core.blend import embed_frozen
    from hpt_core.classifier import PIPELINE_NAME, HTCClassifier
    from hpt_core.methods import resolve_method
    from hpt_core.model import build_model
    from hpt_core.predict import Predictor, prediction_record

    texts = ["goal striker penalty", "laser mirror photon"]
    classifier = HTCClassifier(build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32), hierarchy))
    assert all(p.familiarity is None and not p.warnings for p in Predictor(classifier).predict(texts))
    embedded = embed_frozen(encoder, ["goal striker penalty today", "photon laser lens"])
    classifier.familiarity = Familiarity.fit(embedded, embedded, sentence=encoder)
    folder = classifier.save_pretrained(tmp_path / "model")
    assert json.loads((folder / PIPELINE_NAME).read_text())["familiarity"] is True
    loaded = HTCClassifier.from_pretrained(folder)
    predictions = Predictor(loaded).predict(texts)
    assert all(isinstance(p.familiarity, float) for p in predictions)
    loaded.familiarity.threshold = 2.0  # above any cosine: every text is unlike the training texts
    flagged = Predictor(loaded).predict(texts)
    assert all(any("unlike the texts the model learnt from" in w for w in p.warnings) for p in flagged)
    assert prediction_record(flagged[0], 3)["familiarity"] == flagged[0].familiarity
    assert "unlike the texts" in Predictor(loaded).predict_table(texts)["warnings"].iloc[0]
    loaded.familiarity.threshold = -2.0
    assert not any(p.warnings for p in Predictor(loaded).predict(texts))


@pytest.mark.slow
def test_the_papers_recipe_gets_the_check_and_a_finished_run_can_drop_or_refit_it(tmp_path, tiny_backbone, task_files):
    """With no blend to share embeddings with (the paper's recipe), training ends with the check fitted
    from its own frozen-encoder pass, saved with its own encoder; the scores and every figure are
    those of the same run without it; ``python -m hpt_core familiarity`` removes it and fits it again
    on a finished run (a run of before the check), changing no figure."""
    from hpt_core.cli import main
    from hpt_core.config import DataSpec, RunConfig, TrainConfig
    from hpt_core.methods import resolve_method
    from hpt_core.predict import Predictor
    from hpt_core.recipes import pipeline_recipe
    from hpt_core.training import train

    def config(**pipeline):
        return RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                         model=resolve_method("hpt", recipe="paper", backbone=tiny_backbone, max_length=32),
                         train=TrainConfig(epochs=1, batch_size=8, seed=0), pipeline=pipeline_recipe("paper", **pipeline))

    assert config().pipeline.familiarity and config().pipeline.blend is None
    metrics = train(config(), tmp_path / "with")
    without = train(config(familiarity=False), tmp_path / "without")
    assert metrics["familiarity"]["train_documents"] == len(task_files["train"].read_text().splitlines())
    assert "familiarity" not in without and not (tmp_path / "without" / "model" / FAMILIARITY_CONFIG).exists()
    assert (tmp_path / "with" / "model" / FAMILIARITY_ENCODER).is_file()
    for split in ("dev", "test"):
        assert metrics[split]["macro_f1"] == without[split]["macro_f1"]
    texts = ["goal striker penalty", "cell gene protein"]
    with_check = Predictor.from_run(tmp_path / "with")
    assert np.array_equal(with_check.scores(texts), Predictor.from_run(tmp_path / "without").scores(texts))
    assert all(isinstance(p.familiarity, float) for p in with_check.predict(texts))

    run = tmp_path / "without"
    assert main(["familiarity", "--run-dir", str(run)]) == 0
    refitted = json.loads((run / "metrics.json").read_text())
    assert refitted["familiarity"]["threshold"] == pytest.approx(metrics["familiarity"]["threshold"], abs=1e-4)
    assert refitted["test"] == without["test"] and (run / "model" / "calibration.json").is_file()
    assert isinstance(Predictor.from_run(run).predict(texts)[0].familiarity, float)
    assert main(["familiarity", "--run-dir", str(run), "--off"]) == 0
    assert "familiarity" not in json.loads((run / "metrics.json").read_text())
    assert Predictor.from_run(run).predict(texts)[0].familiarity is None
