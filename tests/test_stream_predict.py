"""Predicting a corpus bigger than memory (``hpt_core.stream_predict``, ``predict --input --output``)."""

from __future__ import annotations

import json

import pytest

from hpt_core.errors import HPTInputError
from hpt_core.stream_predict import predict_file

TEXTS = ["goal striker penalty", "a bronze sculpture on show", "lens and laser light", "the keeper saved it",
         "oil paint on canvas", "quantum optics in the lab", "a late winner in the derby"] * 3


@pytest.fixture(scope="module")
def predictor(trained_run):
    from hpt_core.predict import Predictor

    return Predictor.from_run(trained_run)


def _corpus(tmp_path, texts=TEXTS):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def test_a_corpus_is_predicted_in_order_a_chunk_at_a_time(predictor, tmp_path):
    out = tmp_path / "predictions.jsonl"
    seen = []
    summary = predict_file(predictor, _corpus(tmp_path), out, chunk=4, on_progress=lambda d, t, s: seen.append((d, t)))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == list(range(1, len(TEXTS) + 1))
    whole = predictor.predict(TEXTS)
    assert [r["labels"] for r in rows] == [p.labels for p in whole]
    assert seen[0] == (4, len(TEXTS)) and seen[-1] == (len(TEXTS), len(TEXTS)) and len(seen) == 6  # 21 texts by 4
    assert summary["predicted"] == len(TEXTS) and summary["resumed_from"] == 0


def test_an_interrupted_run_resumes_where_its_output_stops(predictor, tmp_path):
    """Killed after a chunk (and once more inside a line's write): the same command ends with the
    file an uninterrupted run writes — every text once, in order."""
    corpus, out, reference = _corpus(tmp_path), tmp_path / "out.jsonl", tmp_path / "reference.jsonl"
    predict_file(predictor, corpus, reference, chunk=5)

    def killed(done, total, seconds):
        if done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(predictor, corpus, out, chunk=5, on_progress=killed)
    with out.open("a", encoding="utf-8") as handle:  # a line cut off by a kill mid-write
        handle.write('{"line": 11, "labels": ["spo')
    summary = predict_file(predictor, corpus, out, chunk=5)
    assert summary["resumed_from"] == 10 and summary["predicted"] == len(TEXTS) - 10
    assert out.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")
    assert predict_file(predictor, corpus, out)["predicted"] == 0  # done: nothing more to do


def test_text_and_csv_inputs_and_bad_lines(predictor, tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_text("goal striker penalty\n\nlens and laser light\n", encoding="utf-8")
    predict_file(predictor, txt, tmp_path / "t.jsonl")
    assert [json.loads(x)["line"] for x in (tmp_path / "t.jsonl").read_text().splitlines()] == [1, 3]
    table = tmp_path / "c.csv"
    table.write_text('id,text\n1,"goal, striker"\n2,lens and laser\n', encoding="utf-8")
    predict_file(predictor, table, tmp_path / "c.jsonl")
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "goal striker"}\n{"txt": "oops"}\n', encoding="utf-8")
    with pytest.raises(HPTInputError, match=r"bad\.jsonl:2: expected an object with a 'text' string"):
        predict_file(predictor, bad, tmp_path / "b.jsonl")
    with pytest.raises(HPTInputError, match="overwrite the input"):
        predict_file(predictor, bad, bad)


def test_cli_streams_a_corpus_and_says_what_it_did(trained_run, tmp_path, capsys):
    from hpt_core.cli import main

    corpus, out = _corpus(tmp_path), tmp_path / "p.jsonl"
    assert main(["predict", "--run-dir", str(trained_run), "--input", str(corpus), "--output", str(out)]) == 0
    assert f"{len(TEXTS)} texts predicted into" in capsys.readouterr().out
    assert main(["predict", "--run-dir", str(trained_run), "--input", str(corpus)]) == 2
    assert "--input and --output go together" in capsys.readouterr().err


def test_processes_sharing_a_corpus_merge_into_the_file_one_process_writes(predictor, tmp_path):
    """Issue 24: K processes (``accelerate launch``) each predict their chunks into a part file —
    resumable as the single output is — and the merge gives exactly one process's output, in order;
    incomplete parts are refused before anything is written."""
    from hpt_core.stream_predict import merge_parts, part_path, shard_size

    corpus, out, reference = _corpus(tmp_path), tmp_path / "out.jsonl", tmp_path / "reference.jsonl"
    predict_file(predictor, corpus, reference, chunk=4)
    assert [shard_size(len(TEXTS), rank, 3, 4) for rank in range(3)] == [8, 8, 5]  # chunks 0,3 | 1,4 | 2,5 (of 1)

    def killed(done, total, seconds):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # process 1 killed after its first chunk
        predict_file(predictor, corpus, out, chunk=4, rank=1, world=3, on_progress=killed)
    for rank in (0, 2):
        predict_file(predictor, corpus, out, chunk=4, rank=rank, world=3)
    with pytest.raises(HPTInputError, match="part 1: 4 of 8"):
        merge_parts(out, len(TEXTS), 3, chunk=4)
    assert not out.exists()
    resumed = predict_file(predictor, corpus, out, chunk=4, rank=1, world=3)
    assert resumed["resumed_from"] == 4 and resumed["predicted"] == 4
    assert resumed["input_texts"] == len(TEXTS)  # the whole input's count, for the merge (its share: "total")
    merge_parts(out, resumed["input_texts"], 3, chunk=4)
    assert out.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")
    assert not any(part_path(out, rank, 3).exists() for rank in range(3))
    assert predict_file(predictor, corpus, out, chunk=4, rank=2, world=3)["predicted"] == 0  # merged: a relaunch is a no-op


@pytest.mark.slow
def test_accelerate_launch_splits_a_corpus_across_two_processes(trained_run, tmp_path):
    """The real launcher: ``accelerate launch --multi_gpu --num_processes 2 -m hpt_core predict`` on a CPU
    (two processes, gloo) ends with the file one process writes (the line numbers in order, each text
    once, the same labels)."""
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("accelerate") is None and not (os.path.dirname(sys.executable) and
                                                   os.path.exists(os.path.join(os.path.dirname(sys.executable), "accelerate"))):
        pytest.skip("no accelerate launcher on PATH")
    launcher = shutil.which("accelerate") or os.path.join(os.path.dirname(sys.executable), "accelerate")
    corpus, out, reference = _corpus(tmp_path, TEXTS * 30), tmp_path / "out.jsonl", tmp_path / "reference.jsonl"
    from hpt_core.predict import Predictor

    predict_file(Predictor.from_run(trained_run), corpus, reference)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    # --multi_gpu picks accelerate's torchrun launcher; with no GPU the two processes join over gloo on the CPU
    # (--cpu would pick its single-process launcher)
    done = subprocess.run([launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "hpt_core", "predict",
                           "--run-dir", str(trained_run), "--input", str(corpus), "--output", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "predicted by 2 processes" in done.stdout
    ours = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    theirs = [json.loads(line) for line in reference.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in ours] == [r["line"] for r in theirs]
    assert [r["labels"] for r in ours] == [r["labels"] for r in theirs]
