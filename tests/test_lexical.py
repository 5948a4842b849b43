"""The lexical channel: TF-IDF label scores over the whole text, added to the model's (stacking)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpt_core.config import DataSpec

from hpt_core.recipes import pipeline_recipe
from hpt_core.errors import HPTInputError
from hpt_core import kernel_ridge
from hpt_core.lexical import C_GRID, FITTERS, LexicalChannel, fit_lexical_channel

GRIDS = {"logistic": C_GRID, "ridge": kernel_ridge.C_GRID, "ridge-votes": kernel_ridge.C_GRID}


def _docs(hierarchy, task_files, split):
    from hpt_core.data import read_corpus

    docs = read_corpus(task_files[split], hierarchy)
    return [d.text for d in docs], hierarchy.multi_hot([d.labels for d in docs])


@pytest.fixture(scope="module", params=FITTERS)
def fitted(hierarchy, task_files, request):
    texts, y = _docs(hierarchy, task_files, "train")
    dev_texts, y_dev = _docs(hierarchy, task_files, "dev")
    groups = np.asarray(hierarchy.depths) - 1
    return fit_lexical_channel(texts, y, groups, dev_texts, y_dev, fitter=request.param)


@pytest.fixture(scope="module")
def channel(fitted):
    return fitted[0]


def test_training_scores_are_out_of_fold(fitted, hierarchy, task_files):
    """The model trains against lexical scores the channel could have for unseen documents: each
    training document's come from a fit without it, so they are less sure than the in-sample
    scores of the channel fitted on everything (which has seen the document)."""
    channel, out_of_fold = fitted
    texts, y = _docs(hierarchy, task_files, "train")
    in_sample = channel.scores(texts)
    assert out_of_fold.shape == in_sample.shape == y.shape
    def margin(scores):  # mean score of the gold labels minus that of the others
        return float(scores[torch.as_tensor(y) > 0].mean() - scores[torch.as_tensor(y) == 0].mean())
    assert margin(out_of_fold) < margin(in_sample)
    assert margin(out_of_fold) > 0  # still informative: the task is lexical


@pytest.mark.parametrize("fitter", FITTERS)
def test_a_documents_own_label_never_reaches_its_out_of_fold_scores(hierarchy, task_files, fitter):
    """Stacking is honest only if a training document's "out-of-fold" scores know nothing of its
    own label (issue 20's leak: folds started from the whole-set fit, which had seen it). Moving
    one document to a sibling leaf leaves its scores as they were — exactly for the logistic fitter,
    to float rounding for the ridge, whose closed form takes the label out again (``T_F − A_FF⁻¹ α_F``;
    a per-depth map fitted on every document's scores failed this by 10 units) — and moves the
    whole-set channel's, so the check can see a leak. C is pinned (one value): a different label
    could otherwise tip dev's choice of C, which is a legitimate change."""
    texts, y = _docs(hierarchy, task_files, "train")
    dev_texts, y_dev = _docs(hierarchy, task_files, "dev")
    groups = np.asarray(hierarchy.depths) - 1
    own = np.flatnonzero(y[0])
    deepest = int(own[np.argmax(np.asarray(hierarchy.depths)[own])])
    siblings = [j for j in np.flatnonzero(np.asarray(hierarchy.parent_index) == hierarchy.parent_index[deepest])
                if j != deepest]
    moved = y.copy()
    moved[0, deepest], moved[0, siblings[0]] = 0, 1
    c_grid = (100.0, 1000.0) if fitter == "logistic" else (30.0,)
    before_channel, before = fit_lexical_channel(texts, y, groups, dev_texts, y_dev, c_grid=c_grid, fitter=fitter)
    after_channel, after = fit_lexical_channel(texts, moved, groups, dev_texts, y_dev, c_grid=c_grid, fitter=fitter)
    assert before_channel.c == after_channel.c
    if fitter == "logistic":
        assert torch.equal(before[0], after[0])  # its own label changed; its out-of-fold scores did not
    else:
        assert float((before[0] - after[0]).abs().max()) < 1e-3
    assert float((before[1:] - after[1:]).abs().max()) > 0.1  # the folds that saw it learnt the new label
    in_sample = before_channel.scores(texts[:1]), after_channel.scores(texts[:1])
    assert float((in_sample[1] - in_sample[0])[0, siblings[0]]) > 0  # the whole-set fit did


def test_channel_alone_classifies_the_keyword_task(channel, hierarchy, task_files):
    """The synthetic task is lexical (keywords name the leaf): TF-IDF scores alone, decided at 0
    like HPT's, get every test path right."""
    from hpt_core.metrics import micro_f1

    texts, y = _docs(hierarchy, task_files, "test")
    scores = channel.scores(texts)
    assert scores.shape == (len(texts), len(hierarchy.labels))
    assert micro_f1(y, (scores.numpy() > 0).astype(np.int8)) > 0.95
    grid = GRIDS[channel.fitter]
    assert channel.c in grid and set(channel.dev_by_c) == {repr(c) for c in grid}


def test_channel_reads_words_past_any_token_window(channel, hierarchy):
    """Keywords at the very end of a long text still decide: nothing is cut."""
    filler = "we saw a report on it today and then some more news about this " * 200
    tennis_end, football_end = channel.scores([filler + " racket serve volley", filler + " goal striker penalty"])
    tennis, football = hierarchy.label_to_index["tennis"], hierarchy.label_to_index["football"]
    assert tennis_end[tennis] > football_end[tennis] and football_end[football] > tennis_end[football]


def test_save_and_load_round_trip_and_damage(channel, tmp_path, hierarchy):
    channel.save(tmp_path)
    loaded = LexicalChannel.load(tmp_path, len(hierarchy.labels))
    texts = ["goal striker pitch", "laser lens"]
    assert torch.allclose(loaded.scores(texts), channel.scores(texts))
    assert loaded.c == channel.c and loaded.vocabulary == channel.vocabulary and loaded.fitter == channel.fitter
    with pytest.raises(HPTInputError, match="does not match the label tree"):
        LexicalChannel.load(tmp_path, len(hierarchy.labels) + 1)
    (tmp_path / "lexical.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(HPTInputError, match="not a usable model folder"):
        LexicalChannel.load(tmp_path, len(hierarchy.labels))
    (tmp_path / "lexical.json").unlink()
    with pytest.raises(HPTInputError, match="lexical channel .* is missing"):
        LexicalChannel.load(tmp_path, len(hierarchy.labels))


@pytest.mark.parametrize("kind", ["tfidf", "tfidf+sentence"])
def test_training_with_the_channel_saves_it_and_predictor_uses_it(tmp_path, tiny_backbone, task_files, kind):
    """End to end through the one training loop: the channel is fitted at the start, saved in the
    model folder, restored by from_pretrained, and the Predictor's scores are the sum."""
    from hpt_core.config import DataSpec, PipelineConfig, RunConfig, TrainConfig
    from hpt_core.methods import resolve_method
    from hpt_core.classifier import HTCClassifier
    from hpt_core.predict import Predictor
    from hpt_core.training import train

    config = RunConfig(
        data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
        model=resolve_method("hpt", backbone=tiny_backbone, max_length=32),
        train=TrainConfig(epochs=2, batch_size=8, lr=3e-3, seed=0),
        pipeline=PipelineConfig(lexical_channel=kind),
    )
    metrics = train(config, tmp_path / "run")
    assert metrics["lexical_channel"]["n_features"] > 0
    assert metrics["lexical_channel"]["C"] in C_GRID
    assert metrics["lexical_channel"]["kind"] == kind and metrics["lexical_channel"]["fitter"] == "logistic"
    assert f"lexical channel ({kind}, logistic fit)" in (tmp_path / "run" / "train.log").read_text()
    model_dir = tmp_path / "run" / "model"
    assert (model_dir / "lexical.json").is_file() and (model_dir / "lexical.safetensors").is_file()
    assert (model_dir / "sentence_encoder.safetensors").is_file() == (kind == "tfidf+sentence")
    model = HTCClassifier.from_pretrained(model_dir)
    assert model.lexical is not None and model.lexical.c == metrics["lexical_channel"]["C"]
    assert model.lexical.kind == kind
    texts = ["goal striker", "laser mirror photon"]
    expected = model.model_scores(texts) + model.lexical.scores(texts)
    assert np.allclose(Predictor(model).scores(texts), expected.numpy(), atol=1e-5)
    if kind == "tfidf+sentence":
        # The frozen encoder is the pretrained backbone, not the fine-tuned one: the sentence part
        # of the scores is what the untouched backbone's embeddings give.
        from hpt_core.backbone import load_backbone
        from hpt_core.sentence import FrozenSentenceEncoder

        pretrained = FrozenSentenceEncoder.copy_of(load_backbone(tiny_backbone)[0].base_model, model.tokenizer, 32)
        assert np.allclose(model.lexical.sentence.embed(texts), pretrained.embed(texts), atol=1e-5)
        assert not np.allclose(model.lexical.sentence.embed(texts),
                               FrozenSentenceEncoder.copy_of(model.model.mlm.base_model, model.tokenizer, 32).embed(texts), atol=1e-3)
        (model_dir / "sentence_encoder.safetensors").unlink()
        with pytest.raises(HPTInputError, match="frozen encoder"):
            HTCClassifier.from_pretrained(model_dir)
    # A folder that lost the channel is refused in one line.
    (model_dir / "lexical.safetensors").unlink()
    with pytest.raises(HPTInputError, match="lexical channel"):
        HTCClassifier.from_pretrained(model_dir)


def test_recipes_paper_has_no_channel_and_default_has_it_for_every_method():
    from hpt_core.config import RunConfig
    from hpt_core.experiments import Experiment
    from hpt_core.methods import METHODS, resolve_method

    assert pipeline_recipe("paper").lexical_channel is None
    spec = Experiment("all", DataSpec("t", "a", "b"), list(METHODS), recipe="small-data")
    for name in METHODS:
        config: RunConfig = spec.run_config(name, 42, 1.0, name)
        assert config.pipeline.lexical_channel == "tfidf"
    assert resolve_method("vanilla", recipe="small-data").text_residual_gate is None  # label-word options stay out


def test_sentence_features_remember_only_the_dev_scores_of_the_fit(hierarchy, task_files, tiny_backbone):
    """With sentence features the fit remembers its dev scores (training scores dev after every
    epoch); any other texts are scored afresh, and the remembered scores are what a fresh
    computation gives."""
    from hpt_core.backbone import load_backbone
    from hpt_core.sentence import FrozenSentenceEncoder

    mlm, tokenizer = load_backbone(tiny_backbone)
    texts, y = _docs(hierarchy, task_files, "train")
    dev_texts, y_dev = _docs(hierarchy, task_files, "dev")
    sentence = FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, 32)
    channel, oof = fit_lexical_channel(texts, y, np.asarray(hierarchy.depths) - 1, dev_texts, y_dev, sentence=sentence)
    assert channel.kind == "tfidf+sentence" and channel.sentence_weight.shape == (sentence.width, y.shape[1])
    remembered = channel.scores(dev_texts)
    channel._remembered = None
    assert torch.allclose(channel.scores(dev_texts), remembered, atol=1e-5)
    assert channel.scores(dev_texts[:2]).shape == (2, y.shape[1])
    assert oof.shape == y.shape


@pytest.mark.parametrize("fitter", FITTERS)
@pytest.mark.parametrize("with_sentence", [False, True], ids=["tfidf", "tfidf+sentence"])
def test_labels_no_training_document_has_cost_no_weights(hierarchy, task_files, tiny_backbone, monkeypatch,
                                                         with_sentence, fitter):
    """A large taxonomy over a small corpus: most labels have no training document. Their weights
    would have nothing to learn, so they are not fitted (zeros; a bias alone says "not this
    label") — L-BFGS holds, and keeps its history of, the seen labels' weights only, and the ridge
    solves for the seen labels only, so a 5,000-label tree costs what its seen labels cost — and the
    seen labels decide as they do without the unseen ones, which share their depth (one ZMLCE group)."""
    from hpt_core.backbone import load_backbone
    from hpt_core.sentence import FrozenSentenceEncoder

    texts, y = _docs(hierarchy, task_files, "train")
    dev_texts, y_dev = _docs(hierarchy, task_files, "dev")
    test_texts, _ = _docs(hierarchy, task_files, "test")
    sentence = None
    if with_sentence:
        mlm, tokenizer = load_backbone(tiny_backbone)
        sentence = FrozenSentenceEncoder.copy_of(mlm.base_model, tokenizer, 32)
    depth_groups = np.asarray(hierarchy.depths) - 1
    unseen = 400
    pad = lambda m: np.hstack([m, np.zeros((m.shape[0], unseen), dtype=m.dtype)])  # noqa: E731
    groups = np.concatenate([depth_groups, np.full(unseen, depth_groups.max())])  # siblings of the deepest labels
    alone, _ = fit_lexical_channel(texts, y, depth_groups, dev_texts, y_dev, sentence=sentence, fitter=fitter)
    fitted_sizes = []
    from hpt_core import lbfgs
    real_minimise, real_solve = lbfgs.minimise, torch.cholesky_solve

    def recording_minimise(objective, x, **kwargs):
        fitted_sizes.append(x.numel())  # the one vector L-BFGS moves and keeps a history of
        return real_minimise(objective, x, **kwargs)

    def recording_solve(targets, factor):
        fitted_sizes.append(targets.shape[1])  # the ridge's labels: one column of dual weights each
        return real_solve(targets, factor)

    monkeypatch.setattr(lbfgs, "minimise", recording_minimise)
    monkeypatch.setattr(kernel_ridge.torch, "cholesky_solve", recording_solve)
    channel, out_of_fold = fit_lexical_channel(texts, pad(y), groups, dev_texts, pad(y_dev), sentence=sentence,
                                               fitter=fitter)
    seen, n_all = int((y.sum(0) > 0).sum()), y.shape[1] + unseen
    features = len(channel.vocabulary) + (sentence.width if sentence is not None else 0)
    # every fit (C grid, folds): seen weights + all biases; the ridge: a column for each seen label
    assert set(fitted_sizes) == ({features * seen + n_all} if fitter == "logistic" else {seen})
    assert torch.count_nonzero(channel.weight[:, y.shape[1]:]) == 0
    if sentence is not None:
        assert torch.count_nonzero(channel.sentence_weight[:, y.shape[1]:]) == 0
    scores = channel.scores(test_texts)
    assert (scores[:, y.shape[1]:] < 0).all() and (out_of_fold[:, y.shape[1]:] < 0).all()
    assert channel.c == alone.c
    np.testing.assert_array_equal(scores[:, : y.shape[1]].numpy() > 0, alone.scores(test_texts).numpy() > 0)


def _synthetic_corpus(n_docs: int, n_labels: int, seed: int = 0):
    """Texts of a Zipf-distributed 1,500-word vocabulary, each with a few words of its label (one
    of ``n_labels`` leaves under 8 parents); multi-hot targets (N, C) and depth groups (C,)."""
    rng = np.random.default_rng(seed)
    words = np.asarray([f"w{i}" for i in range(1500)])
    zipf = 1.0 / np.arange(1, len(words) + 1)
    zipf /= zipf.sum()
    parents = 8
    leaf = rng.integers(n_labels - parents, size=n_docs)
    texts = []
    for doc_leaf in leaf:
        own = [f"k{doc_leaf}_{j}" for j in rng.integers(6, size=4)]
        texts.append(" ".join(list(rng.choice(words, size=20, p=zipf)) + own))
    y = np.zeros((n_docs, n_labels), dtype=np.int8)
    y[np.arange(n_docs), leaf % parents] = 1  # the parent (depth 1)
    y[np.arange(n_docs), parents + leaf] = 1  # the leaf (depth 2)
    groups = np.asarray([0] * parents + [1] * (n_labels - parents))
    return texts, y, groups


@pytest.mark.slow
@pytest.mark.parametrize("fitter", FITTERS)
def test_fit_cost_grows_at_most_linearly_in_documents(fitter):
    """Doubling the training documents at a fixed label set may not cost more than about twice the
    fit time (issue 25: the fit took tens of minutes at 3,000 × 300 with 200 L-BFGS iterations and a
    20-pair history). A ratio measured within this test, the better of two tries each, never an
    absolute time."""
    import time

    def fit_seconds(n_docs: int) -> float:
        texts, y, groups = _synthetic_corpus(n_docs + 100, 48)
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            fit_lexical_channel(texts[:n_docs], y[:n_docs], groups, texts[n_docs:], y[n_docs:], fitter=fitter)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = fit_seconds(400), fit_seconds(800)
    budgets = []
    from hpt_core import lbfgs
    real_minimise = lbfgs.minimise

    def recording_minimise(objective, x, **kwargs):
        budgets.append((kwargs["max_iter"], kwargs["history"]))
        return real_minimise(objective, x, **kwargs)

    lbfgs.minimise = recording_minimise
    try:
        texts, y, groups = _synthetic_corpus(150, 48)
        fit_lexical_channel(texts[:100], y[:100], groups, texts[100:], y[100:], fitter=fitter)
    finally:
        lbfgs.minimise = real_minimise
    if fitter == "logistic":  # each fit is bounded
        assert budgets and all(max_iter <= 50 and history <= 5 for max_iter, history in budgets)
    else:  # no iterative fit at all
        assert not budgets
    assert large / small < 2.5, f"400 documents: {small:.2f} s, 800: {large:.2f} s ({large / small:.2f}×)"


def _record_fitted_rows(monkeypatch, rows: list) -> None:
    """Append to ``rows`` the training rows each fit reads: each L-BFGS fit's (logistic) or each
    Gram matrix's (ridge)."""
    from hpt_core import lexical

    real_fit, real_gram = lexical.fit_linear, kernel_ridge.gram

    def recording_fit(features, *args, **kwargs):
        rows.append(features.shape[0])
        return real_fit(features, *args, **kwargs)

    def recording_gram(row_features, dense, columns, dense_columns):
        rows.append(columns.shape[0])
        return real_gram(row_features, dense, columns, dense_columns)

    monkeypatch.setattr(lexical, "fit_linear", recording_fit)
    monkeypatch.setattr(kernel_ridge, "gram", recording_gram)


@pytest.mark.parametrize("fitter", FITTERS)
def test_a_fitting_sample_bounds_the_fit_and_scores_the_rest_as_unseen(hierarchy, task_files, monkeypatch, fitter):
    """Above ``max_documents`` training documents the channel is fitted on a seeded sample of that
    many: no fit sees more (its cost stops growing with the corpus), the channel says how many it
    was fitted on, and the documents left out get the sampled channel's own scores — those of
    documents it never saw. At or below the limit nothing changes."""
    from hpt_core.linear_fit import document_sample

    texts, y = _docs(hierarchy, task_files, "train")
    dev_texts, y_dev = _docs(hierarchy, task_files, "dev")
    groups = np.asarray(hierarchy.depths) - 1
    limit = len(texts) // 2
    rows_fitted = []
    _record_fitted_rows(monkeypatch, rows_fitted)
    channel, scores = fit_lexical_channel(texts, y, groups, dev_texts, y_dev, max_documents=limit, seed=3, fitter=fitter)
    assert rows_fitted and max(rows_fitted) == limit
    assert channel.documents == channel.summary()["fit_documents"] == limit
    sample = document_sample(len(texts), limit, 3)
    rest = np.setdiff1d(np.arange(len(texts)), sample)
    assert scores.shape == y.shape and len(rest) == len(texts) - limit
    np.testing.assert_allclose(scores[rest].numpy(), channel.scores([texts[i] for i in rest]).numpy(), atol=1e-5)
    in_sample = channel.scores([texts[i] for i in sample])
    assert not torch.allclose(scores[sample], in_sample, atol=1e-3)  # the sampled documents: out of fold

    whole, whole_scores = fit_lexical_channel(texts, y, groups, dev_texts, y_dev, max_documents=len(texts), seed=3,
                                              fitter=fitter)
    unbounded, unbounded_scores = fit_lexical_channel(texts, y, groups, dev_texts, y_dev, seed=3, fitter=fitter)
    assert whole.documents == unbounded.documents == len(texts)
    assert torch.equal(whole_scores, unbounded_scores) and torch.equal(whole.weight, unbounded.weight)


@pytest.mark.parametrize("fitter", FITTERS)
def test_with_a_fitting_sample_the_fit_cost_stops_growing_with_documents(monkeypatch, fitter):
    """Four times the documents above the limit: every fit sees the same number of rows, and
    exactly the documents outside the sample are scored once more (one product each)."""
    texts, y, groups = _synthetic_corpus(460, 24)
    rows_by_size = {}
    for n_docs in (100, 400):
        rows = rows_by_size.setdefault(n_docs, [])
        with monkeypatch.context() as patch:
            _record_fitted_rows(patch, rows)
            channel, scores = fit_lexical_channel(texts[:n_docs], y[:n_docs], groups, texts[400:], y[400:],
                                                  max_documents=60, fitter=fitter)
        assert scores.shape == (n_docs, 24) and channel.documents == 60
    assert rows_by_size[100] == rows_by_size[400] and max(rows_by_size[400]) == 60
