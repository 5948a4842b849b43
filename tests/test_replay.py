"""A replay round (issue 23's quick retrain): a warm start whose epochs read the documents new to
the model and a sample of those it learnt from; the channel and the blend still see them all."""

import json
import shutil

import pytest

from hpt_core.config import DataSpec, RunConfig, TrainConfig
from hpt_core.documents import Document
from hpt_core.errors import HPTInputError
from hpt_core.methods import resolve_method
from hpt_core.replay import TRAINED_ON, fingerprint, replay_selection
from hpt_core.training import train

NEW = [{"text": "striker volley header goal", "labels": ["sports", "football"]},
       {"text": "photon laser mirror lens", "labels": ["science", "physics", "optics"]},
       {"text": "gallery canvas sculpture painting", "labels": ["arts"]}]


def _grown(task_files, tmp_path):
    """The task's files with three documents the trained run never saw added to train."""
    train_file = tmp_path / "grown-train.jsonl"
    train_file.write_text(task_files["train"].read_text(encoding="utf-8")
                          + "".join(json.dumps(d) + "\n" for d in NEW), encoding="utf-8")
    return dict(task_files, train=train_file)


def _config(files, backbone, **train_options) -> RunConfig:
    options = dict(epochs=1, batch_size=4, lr=1e-3, seed=0)
    options.update(train_options)
    return RunConfig(data=DataSpec(**{k: str(v) for k, v in files.items()}),
                     model=resolve_method("hpt", backbone=backbone, max_length=32), train=TrainConfig(**options))


@pytest.fixture
def known_labels(task_files):
    from hpt_core.hierarchy import LabelHierarchy

    labels = set(LabelHierarchy.read(task_files["taxonomy"]).labels)
    assert all(set(d["labels"]) <= labels for d in NEW)  # the test's documents fit the task's tree


def test_a_replay_round_trains_on_the_new_documents_and_a_sample_of_the_old(trained_run, tmp_path, tiny_backbone,
                                                                            task_files, known_labels):
    files = _grown(task_files, tmp_path)
    n_old = sum(1 for line in task_files["train"].read_text().splitlines() if line.strip())
    round_dir = tmp_path / "round"
    metrics = train(_config(files, tiny_backbone, init_from=str(trained_run), replay_documents=2), round_dir)
    assert metrics["replay"] == {"new_documents": 3, "replayed_documents": 2, "epoch_documents": 5}
    assert metrics["train_documents"] == n_old + 3  # the channel, the blend and the counts: every document
    assert metrics["steps"] == 2  # 5 documents in batches of 4: the epoch read 5, not n_old + 3
    assert "replay round: the epochs read the 3 document(s) new to that model and 2 of the" in \
        (round_dir / "train.log").read_text()
    # the next round knows what this one learnt from: all of its training texts
    recorded = set(json.loads((round_dir / TRAINED_ON).read_text())["fingerprints"])
    assert {fingerprint(d["text"], d["labels"]) for d in NEW} <= recorded and len(recorded) == n_old + 3


def test_a_run_from_before_the_record_is_read_from_its_training_file(trained_run, tmp_path, tiny_backbone,
                                                                     task_files, known_labels):
    old = tmp_path / "old-run"
    shutil.copytree(trained_run, old)
    (old / TRAINED_ON).unlink()  # as runs trained before trained_on.json
    metrics = train(_config(_grown(task_files, tmp_path), tiny_backbone, init_from=str(old / "model"),
                            replay_documents=0), tmp_path / "round")
    assert metrics["replay"]["new_documents"] == 3 and metrics["replay"]["replayed_documents"] == 0


def test_a_replay_that_cannot_know_what_is_new_is_refused_before_training(trained_run, tmp_path, tiny_backbone,
                                                                         task_files):
    alone = tmp_path / "model-alone"  # a model folder outside any run folder (downloaded, say)
    shutil.copytree(trained_run / "model", alone)
    with pytest.raises(HPTInputError, match="which documents this model was trained on is not known"):
        train(_config(task_files, tiny_backbone, init_from=str(alone), replay_documents=5), tmp_path / "r1")
    assert not (tmp_path / "r1" / "model").exists()
    with pytest.raises(HPTInputError, match="nothing to train on"):  # nothing new and nothing replayed
        train(_config(task_files, tiny_backbone, init_from=str(trained_run), replay_documents=0), tmp_path / "r2")
    with pytest.raises(HPTInputError, match=r"replay_documents \(--replay\) needs init_from"):
        TrainConfig(replay_documents=10)
    with pytest.raises(HPTInputError, match="whole number >= 0"):
        TrainConfig(init_from="x", replay_documents=-1)


def test_the_replayed_sample_is_seeded_and_bounded_and_a_relabelled_document_is_new():
    docs = [Document(f"text {i}", ["A"]) for i in range(20)]
    seen = {fingerprint(d.text, d.labels) for d in docs[:15]}
    rows, new = replay_selection(docs, seen, 4, seed=1)
    assert new == 5 and len(rows) == 9 and set(range(15, 20)) <= set(rows)
    assert rows == replay_selection(docs, seen, 4, seed=1)[0] != replay_selection(docs, seen, 4, seed=2)[0]
    assert replay_selection(docs, seen, 100, seed=1)[0] == list(range(20))  # fewer old documents than asked: all
    # a document corrected since (Workspace.relabel) is new to the model that learnt its old labels
    docs[3] = Document("text 3", ["B"])
    rows, new = replay_selection(docs, seen, 0, seed=1)
    assert new == 6 and 3 in rows


def test_the_cli_takes_replay(tmp_path):
    from hpt_core.cli import build_parser
    from hpt_core.cli_options import configs_from_args

    parser = build_parser()
    files = {k: tmp_path / f"{k}.txt" for k in ("taxonomy", "train", "dev")}
    for path in files.values():
        path.write_text("x\n")
    args = parser.parse_args(["train", "--taxonomy", str(files["taxonomy"]), "--train", str(files["train"]),
                              "--dev", str(files["dev"]), "--run-dir", str(tmp_path / "run"), "--init-from", "runs/r",
                              "--replay", "300"])
    config = configs_from_args(args, "hpt")[0]
    assert (config.train.init_from, config.train.replay_documents) == ("runs/r", 300)


def test_a_run_whose_training_file_changed_since_is_not_guessed(trained_run, tmp_path, tiny_backbone, task_files):
    """A run from before trained_on.json, on a workspace dataset labelled since: its training file
    now holds the new documents too, so reading it would call them seen. Refused, naming the file."""
    old = tmp_path / "old-run"
    shutil.copytree(trained_run, old)
    (old / TRAINED_ON).unlink()
    grown = tmp_path / "train-now.jsonl"  # written after the run started: "labelled since"
    grown.write_text(task_files["train"].read_text(encoding="utf-8"), encoding="utf-8")
    config = json.loads((old / "run.json").read_text())
    config["data"]["train"] = str(grown)
    (old / "run.json").write_text(json.dumps(config))
    with pytest.raises(HPTInputError, match="training file may have changed since that run trained") as err:
        train(_config(task_files, tiny_backbone, init_from=str(old), replay_documents=5), tmp_path / "r")
    assert str(grown) in str(err.value)
