"""Token attributions (Captum layer integrated gradients) of a trained run's labels."""

from __future__ import annotations

import json

import pytest

from hpt_core.errors import HPTInputError
from hpt_core.explain import explain, highlighted_html
from hpt_core.predict import load_run_model

TEXT = "we saw a report on the striker and a penalty goal today"


@pytest.fixture(scope="module")
def model(trained_run):
    return load_run_model(trained_run)


def test_the_label_keywords_carry_the_score_and_the_attributions_add_up(model):
    (sports,) = explain(model, TEXT, "sports", n_steps=50)
    assert sports.predicted and sports.depth == 1
    # Completeness: the attributions share out score(text) - score(baseline); the delta says how closely.
    gap = sports.score - sports.baseline_score
    assert sum(sports.token_attributions) == pytest.approx(gap, abs=abs(sports.delta) + 1e-4)
    assert abs(sports.delta) < 0.05 * abs(gap)
    keywords = {"striker", "penalty", "goal"}
    assert max(sports.words, key=lambda w: w[3])[0] in keywords, sports.words  # the word raising it most
    # The same words argue against a label of another branch (a label that is not predicted).
    (optics,) = explain(model, TEXT, "optics", n_steps=50)
    assert not optics.predicted
    assert sum(a for w, _, _, a in optics.words if w in keywords) < 0 < sum(
        a for w, _, _, a in sports.words if w in keywords)


def test_default_is_the_predicted_path_depth_by_depth(model):
    from hpt_core.predict import Predictor

    text = "penalty goal striker pitch today"
    predicted = Predictor(model).predict([text])[0].consistent_labels
    explanations = explain(model, text)
    assert [e.label for e in explanations] == predicted and len(predicted) >= 2
    assert [e.depth for e in explanations] == sorted(e.depth for e in explanations)
    assert {e.depth for e in explanations} == {1, 2} and all(e.predicted for e in explanations)
    assert [w for w, *_ in explanations[0].words] == text.split()  # words at their places in the text


def test_highlighted_text_is_escaped(model):
    (e,) = explain(model, "goal <script>alert(1)</script> & striker", "football", n_steps=4)
    page = highlighted_html(e)
    assert "<script" not in page and "</script" not in page
    assert page.count("&lt;") == 2 and page.count("&gt;") == 2 and "&amp;" in page
    assert page.count('title="') == len(e.words)


def test_bad_requests_are_input_errors(model):
    with pytest.raises(HPTInputError, match="unknown label"):
        explain(model, TEXT, "cooking")
    with pytest.raises(HPTInputError, match="no text"):
        explain(model, "   ")


def test_cli_explain(trained_run, capsys):
    from hpt_core.cli import main

    assert main(["explain", "--run-dir", str(trained_run), "--text", TEXT, "--json", "--steps", "8"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in result] == ["sports"]
    assert {"delta", "method", "baseline", "words", "relative_delta"} <= set(result[0])
    assert "integrated gradients" in result[0]["method"]
    assert main(["explain", "--run-dir", str(trained_run), "--text", TEXT, "--label", "tennis", "--steps", "8"]) == 0
    out = capsys.readouterr().out
    assert "convergence delta" in out and out.count("tennis (depth 2") == 1
    assert main(["explain", "--run-dir", str(trained_run), "--text", TEXT, "--label", "cooking"]) == 2


def test_the_baseline_keeps_cls_sep_and_the_template(tiny_backbone, hierarchy):
    """The baseline is the text's own input with the text tokens padded: its score is the model's score
    of a text of [PAD]s of the same length, template and prediction slots included."""
    from hpt_core.methods import resolve_method
    from hpt_core.classifier import model_scores
    from hpt_core.model import build_model

    model = build_model(resolve_method("hpt", recipe="small-data", backbone=tiny_backbone, max_length=32), hierarchy)
    text = "goal striker penalty today"
    (e,) = explain(model, text, "football", n_steps=4)
    padded = model_scores(model, [" ".join(["[PAD]"] * len(text.split()))])[0]
    assert e.baseline_score == pytest.approx(float(padded[hierarchy.label_to_index["football"]]), abs=1e-5)
    assert e.score == pytest.approx(float(model_scores(model, [text])[0][hierarchy.label_to_index["football"]]), abs=1e-5)


def test_with_a_lexical_channel_the_decision_is_the_predictors_and_the_channel_part_is_shown(tmp_path, tiny_backbone,
                                                                                            task_files):
    """The attributions explain the model's part; the channel's part is reported beside it and the
    'predicted' flag is decided on the document score, as Predictor decides."""
    from hpt_core.config import DataSpec, PipelineConfig, RunConfig, TrainConfig
    from hpt_core.explain import summary_line
    from hpt_core.methods import resolve_method
    from hpt_core.predict import Predictor
    from hpt_core.training import train

    config = RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                       model=resolve_method("hpt", backbone=tiny_backbone, max_length=32),
                       train=TrainConfig(epochs=1, batch_size=8, lr=3e-3, seed=0), pipeline=PipelineConfig(lexical_channel="tfidf"))
    train(config, tmp_path / "run")
    lexical_model = load_run_model(tmp_path / "run")
    predictor = Predictor(lexical_model)
    scores = predictor.scores([TEXT])[0]
    for e in explain(lexical_model, TEXT, ["sports", "optics"], n_steps=8):
        index = lexical_model.hierarchy.label_to_index[e.label]
        assert e.lexical_score != 0.0
        assert e.score + e.lexical_score == pytest.approx(float(scores[index]), abs=1e-3)
        assert e.predicted == (e.label in predictor.predict([TEXT])[0].consistent_labels)
        assert "lexical channel" in summary_line(e)


def test_the_whole_decided_score_is_explained_in_parts_that_add_up(tmp_path, tiny_backbone, task_files, capsys):
    """Issue 21: with the small-data recipe's lexical channel and classical blend, the explanation
    covers the whole score decided on — the model's word attributions (with its baseline and the
    integration error), the channel's exact term contributions and bias, the blend's shift — and the
    parts add up to it (within 1e-3), through the library and ``explain --json``."""
    from hpt_core.cli import main
    from hpt_core.config import DataSpec, RunConfig, TrainConfig
    from hpt_core.recipes import pipeline_recipe
    from hpt_core.methods import resolve_method
    from hpt_core.predict import Predictor
    from hpt_core.training import train

    # a weak model on a lexical task: dev gives the classical part a share, so the blend is kept (with
    # the lexical channel in training, dev is perfect without it); the channel is then fitted and
    # attached, so that the explained score has all three parts
    from hpt_core.data import read_corpus
    from hpt_core.lexical import fit_lexical_channel

    config = RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                       model=resolve_method("hpt", recipe="small-data", backbone=tiny_backbone, max_length=32),
                       train=TrainConfig(epochs=1, batch_size=8, lr=1e-6, new_params_lr=1e-6, seed=0),
                       pipeline=pipeline_recipe("small-data", lexical_channel=None))
    metrics = train(config, tmp_path / "run")
    assert metrics["blend"]["model_weight"] < 1.0, metrics["blend"]
    whole_model = load_run_model(tmp_path / "run")
    h = whole_model.hierarchy
    train_docs, dev_docs = (read_corpus(task_files[s], h) for s in ("train", "dev"))
    whole_model.lexical, _ = fit_lexical_channel([d.text for d in train_docs], h.multi_hot([d.labels for d in train_docs]),
                                                 [d - 1 for d in h.depths], [d.text for d in dev_docs],
                                                 h.multi_hot([d.labels for d in dev_docs]))
    whole_model.pipeline = whole_model.pipeline.replace(lexical_channel="tfidf")
    whole_model.save_pretrained(tmp_path / "whole")
    whole_model = load_run_model(tmp_path / "whole")
    assert whole_model.lexical is not None and whole_model.blend is not None
    decided = Predictor(whole_model).scores([TEXT])[0]
    for e in explain(whole_model, TEXT, ["sports", "football", "optics"], n_steps=8):
        index = whole_model.hierarchy.label_to_index[e.label]
        assert e.document_score == pytest.approx(float(decided[index]), abs=1e-4)
        assert sum(e.parts().values()) == pytest.approx(e.document_score, abs=1e-3)
        assert e.whole_score_table()["contribution"].sum() == pytest.approx(e.document_score, abs=1e-3)
        # the channel is linear: its terms and bias are its score exactly
        assert sum(v for _, v in e.lexical_terms) + e.lexical_bias == pytest.approx(e.lexical_score, abs=1e-4)
        assert e.lexical_terms and abs(e.blend_shift) > 1e-4
        assert {t for t, _ in e.lexical_terms} <= set(TEXT.split()) | {" ".join(p) for p in zip(TEXT.split(), TEXT.split()[1:])}

    assert main(["explain", "--run-dir", str(tmp_path / "whole"), "--text", TEXT, "--steps", "8", "--json"]) == 0
    for item in json.loads(capsys.readouterr().out):
        assert sum(item["parts"].values()) == pytest.approx(item["document_score"], abs=1e-3)
        assert item["lexical_terms"] and "term" in item["lexical_terms"][0]
    assert main(["explain", "--run-dir", str(tmp_path / "whole"), "--text", TEXT, "--steps", "8"]) == 0
    out = capsys.readouterr().out
    assert "whole score" in out and "classical blend" in out and "lexical channel:" in out


def test_the_whole_score_colours_each_word_with_the_lexical_terms_it_is_part_of():
    """Issue 21: the highlighted text showed the model's part alone. With the whole score, a word
    carries its own TF-IDF term (shared among its occurrences) and half of each phrase it is in;
    words past the model's input length carry the channel's part (it reads the whole text); and
    the words add up to the model's attributions plus every term."""
    from hpt_core.explain import Explanation

    text = "a laser and laser beam"
    e = Explanation(text=text, label="optics", depth=3, score=1.0, baseline_score=0.5, delta=0.16, tokens=[],
                    token_attributions=[0.05, 0.3, -0.01], n_steps=20, truncated=True,
                    words=[("a", 0, 1, 0.05), ("laser", 2, 7, 0.3), ("and", 8, 11, -0.01)],
                    lexical_terms=[("laser", 0.4), ("laser beam", 0.2), ("beam", -0.1)])
    words = e.whole_score_words()
    assert [(w, start) for w, start, _, _ in words] == [("a", 0), ("laser", 2), ("and", 8), ("laser", 12), ("beam", 18)]
    values = [v for *_, v in words]
    assert values == pytest.approx([0.05, 0.5, -0.01, 0.3, 0.0])
    assert sum(values) == pytest.approx(sum(e.token_attributions) + sum(v for _, v in e.lexical_terms))
    assert e.words == [("a", 0, 1, 0.05), ("laser", 2, 7, 0.3), ("and", 8, 11, -0.01)]  # the model's part unchanged
    # coloured past the cut in the whole view; greyed out, uncoloured, in the model's
    assert highlighted_html(e, whole_score=True).count('title="') == 5
    assert highlighted_html(e).count('title="') == 3 and "opacity: 0.5" in highlighted_html(e)
