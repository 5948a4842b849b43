"""Model cards (``hpt_core.model_card``) and model folders loaded by Hub name (``hpt_core.hub``)."""

from __future__ import annotations

import json
import shutil

import pytest

from hpt_core.errors import HPTInputError
from hpt_core.model_card import CARD, model_card


def test_a_trained_model_folder_explains_itself(trained_run):
    """Training leaves a README.md model card in the model folder: the tree's size and depth, the
    data, the recipe, the dev and test figures of metrics.json, intended use and limitations, and
    how to load it — so a folder shared without its run still says what it is."""
    card = (trained_run / "model" / CARD).read_text(encoding="utf-8")
    metrics = json.loads((trained_run / "metrics.json").read_text())
    config = json.loads((trained_run / "run.json").read_text())
    assert card.startswith("---\nlibrary_name: hpt_core\npipeline_tag: text-classification\n")
    labels = len(json.loads((trained_run / "model" / "hierarchy.json").read_text())["labels"]) \
        if "labels" in json.loads((trained_run / "model" / "hierarchy.json").read_text()) else None
    assert "## Label tree" in card and " levels (" in card
    if labels:
        assert f"{labels:,} labels" in card
    assert f"| test | {metrics['test']['n_documents']} | {100 * metrics['test']['micro_f1']:.2f} | " \
           f"{100 * metrics['test']['macro_f1']:.2f} |" in card
    assert f"| dev | {metrics['dev']['n_documents']} | {100 * metrics['dev']['micro_f1']:.2f} |" in card
    from pathlib import Path

    assert f"`{Path(config['data']['train']).name}`" in card
    assert "## Intended use and limitations" in card and "Predictor.from_pretrained" in card


def test_the_card_follows_the_figures_when_the_decision_changes(trained_run, tmp_path):
    from hpt_core.cli import main

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    assert main(["decide", "--run-dir", str(run), "--decision", "path"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    card = (run / "model" / CARD).read_text(encoding="utf-8")
    assert f"{100 * metrics['test']['macro_f1']:.2f}" in card and "decision rule `path`" in card


def test_the_card_is_pure_and_names_multi_path_and_rare_label_figures():
    from hpt_core.hierarchy import LabelHierarchy

    h = LabelHierarchy([("Root", "A"), ("A", "A1"), ("A", "A2"), ("Root", "B")])
    metrics = {"train_documents": 10, "epochs_run": 3, "best_epoch": 2,
               "test": {"n_documents": 5, "micro_f1": 0.5, "macro_f1": 0.25, "hierarchical_f1": 0.5,
                        "per_depth_macro_f1": {"1": 0.5, "2": 0.125},
                        "frequency_quintile_macro_f1": [0.1, None, None, None, 0.9],
                        "multi_path": {"n_documents": 2, "micro_f1": 0.75, "macro_f1": 0.5}}}
    card = model_card({"data": {"train": "/x/train.jsonl"}, "model": {"decision": "auto"}}, metrics, h, name="demo")
    assert "4 labels in 2 levels (2 at the top, 3 leaves)" in card
    assert "| test | 5 | 50.00 | 25.00 | 50.00 | 50.00 / 12.50 |" in card
    assert "2 test documents with several paths: micro-F1 75.00, macro-F1 50.00" in card
    assert "fewest training documents 10.00, on the most frequent fifth 90.00" in card
    assert "familiarity" not in card  # no check fitted: nothing said
    metrics["familiarity"] = {"k": 5, "quantile": 0.01, "threshold": 0.2734}
    card = model_card({"data": {"train": "/x/train.jsonl"}, "model": {"decision": "auto"}}, metrics, h, name="demo")
    assert "warns below 0.27, a similarity that 99 % of dev's documents reach" in card


def _cache_with(model_dir, cache, repo_id="someone/tiny-hpt"):
    """A Hugging Face cache holding ``model_dir`` as the Hub model ``repo_id`` (revision main)."""
    commit = "0" * 40
    root = cache / f"models--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    shutil.copytree(model_dir, root / "snapshots" / commit)


def test_a_model_loads_by_hub_name_from_the_local_cache_offline(trained_run, tmp_path, monkeypatch, capsys):
    """``Predictor.from_pretrained("owner/name")`` and the CLI load a model folder from the local
    Hugging Face cache with no network; an unknown name is one clear line."""
    from hpt_core.cli import main
    from hpt_core.predict import Predictor

    cache = tmp_path / "hf-cache"
    _cache_with(trained_run / "model", cache)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no local folder of that name
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    by_name = Predictor.from_pretrained("someone/tiny-hpt").predict(["goal striker penalty"])[0]
    local = Predictor.from_run(trained_run).predict(["goal striker penalty"])[0]
    assert by_name.labels == local.labels and by_name.scores == pytest.approx(local.scores, abs=1e-5)
    assert main(["predict", "--run-dir", "someone/tiny-hpt", "--text", "goal striker penalty", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["labels"] == local.labels
    with pytest.raises(HPTInputError, match="Hugging Face Hub model of that name could not be loaded"):
        Predictor.from_pretrained("someone/missing-model")
