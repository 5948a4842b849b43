"""Property-based tests of every input path: bad input gets one line and changes nothing.

One property throughout, checked on generated taxonomies (each format), corpora (each format),
option values and damaged model and run folders:

* a rejected input exits with status 2 and ONE line on stderr (``error: ...``), writes nothing,
  and the library raises nothing but :class:`~hpt_core.errors.HPTInputError`;
* an accepted input round-trips (a hierarchy or corpus written back reads the same; a
  configuration saved as JSON loads equal; a model folder predicts).

The CLI is driven in-process (``hpt_core.cli.main``), so each example costs milliseconds.
``HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py`` searches much longer than CI's
bounded default profile (see tests/conftest.py).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hpt_core.cli import main
from hpt_core.data import read_corpus, write_jsonl
from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import LabelHierarchy

from conftest import TAXONOMY, write_task

# ---------------------------------------------------------------------------------------------
# Running the CLI and checking the property
# ---------------------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit status, stdout, stderr). Any exception but the
    argument parser's exit propagates and fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exit_:
            rc = exit_.code
    return rc, out.getvalue(), err.getvalue()


def snapshot(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root`` with its size and modification time (None for folders)."""
    found = {}
    for p in sorted(root.rglob("*")):
        st_ = p.lstat()
        found[str(p.relative_to(root))] = None if p.is_dir() else (st_.st_size, st_.st_mtime_ns)
    return found


def assert_rejected_cleanly(rc: int, err: str, before: dict, after: dict, names: tuple[str, ...] = ()) -> None:
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert before == after, "a rejected input changed files"
    if names:
        assert any(name in lines[0] for name in names), f"the error names none of {names}: {lines[0]}"


# Tests whose every example loads a model folder run a third of the profile's examples.
MODEL_EXAMPLES = max(10, settings.default.max_examples // 3)


def sandbox():
    return tempfile.TemporaryDirectory(prefix="hpt-fuzz-")


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

# Pieces that matter to some reader: separators, quotes, brackets, invisible and control
# characters, the root's name, label names of the test tree, a non-UTF-8 marker.
PIECES = ["Root", "root", "sports", "science", "football", "tennis", "physics", "x", "\t", ",", ";", "|", "\n",
          "\n\n", " ", "  ", '"', "'", "/", ".", " > ", "{", "}", "[", "]", ":", "\\", "\\ud800", "\u200b",
          "\x00", "\ufeff", "é", "\u2028", "\r", "text", "labels", "label", "level1", "level2", "path", "1", "-1",
          "null", "true", '"text"', '"labels"']
noise = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["sports", "football", "Root", "", " ", "\u200b"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["text", "labels", "label", "token", "doc_label", "x"]), inner, max_size=4),
    max_leaves=12,
)

VALID_TAXONOMY = {
    ".tsv": "".join("\t".join([p, *cs]) + "\n" for p, cs in TAXONOMY),
    ".csv": "parent,child\n" + "".join(f"{p},{c}\n" for p, cs in TAXONOMY for c in cs),
    ".txt": "sports/football\nsports/tennis\nscience/physics/quantum\nscience/physics/optics\nscience/biology\narts\n",
    ".json": json.dumps(LabelHierarchy([(p, c) for p, cs in TAXONOMY for c in cs]).to_dict()),
}


@st.composite
def damaged(draw, text: str) -> bytes:
    """``text`` with a few edits: pieces inserted, spans deleted, lines repeated, tabs turned to
    spaces, deep nesting, bytes that are not UTF-8, or nothing at all."""
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["insert", "delete", "repeat", "spaces", "nest", "truncate"]))
        at = draw(st.integers(0, len(text)))
        if kind == "insert":
            text = text[:at] + draw(noise) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        elif kind == "repeat" and "\n" in text:
            lines = text.split("\n")
            k = draw(st.integers(0, len(lines) - 1))
            text = "\n".join(lines[: k + 1] + [lines[k]] + lines[k + 1 :])
        elif kind == "spaces":
            text = text.replace("\t", " ")
        elif kind == "nest":
            depth = draw(st.sampled_from([5, 100_000]))
            text = text[:at] + "[" * depth + "]" * depth + text[at:]
        elif kind == "truncate":
            text = text[:at]
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        raw += draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80abc"]))
    return raw


def taxonomy_files():
    return st.sampled_from(sorted(VALID_TAXONOMY)).flatmap(
        lambda ext: st.tuples(st.just(ext), damaged(VALID_TAXONOMY[ext]) | noise.map(lambda t: t.encode("utf-8", "surrogatepass"))))


def jsonl_corpus():
    good = "".join(json.dumps(d) + "\n" for d in
                   [{"text": "goal striker", "labels": ["football"]}, {"text": "qubit spin", "labels": ["quantum"]}])
    line = json_values.map(lambda v: json.dumps(v)) | noise | st.sampled_from(
        ['{"text": "goal", "labels": ["Root"]}', '{"text": "goal", "labels": []}', '{"text": "  ", "labels": ["arts"]}',
         '{"text": "\\ud800", "labels": ["arts"]}', '{"text": "\u200b", "labels": ["arts"]}',
         '{"text": "goal", "labels": ["\\u0000"]}', '{"token": ["a", "b"], "label": "arts"}'])
    extra = st.lists(line, max_size=4).map(lambda ls: "".join(x + "\n" for x in ls))
    return st.tuples(st.just(".jsonl"), st.one_of(damaged(good), (extra.map(lambda t: (good + t).encode("utf-8", "surrogatepass")))))


def table_corpus():
    rows = "text,labels\ngoal striker,football\n\"qubit, spin\",quantum\npainting,arts\n"
    tsv = "text\tlevel1\tlevel2\ngoal\tsports\tfootball\nlens\tscience\tphysics\n"
    return st.one_of(st.tuples(st.just(".csv"), damaged(rows)), st.tuples(st.just(".tsv"), damaged(tsv)))


def wos_corpus():
    text = ("Y1\tY2\tY\tDomain\tarea\tkeywords\tAbstract\n0\t0\t0\tsports \tfootball \tk\tgoal striker\n"
            "1\t0\t1\tscience\tbiology\tk\tcell gene\n")
    return st.tuples(st.just(".txt"), damaged(text))


@st.composite
def newsgroups_archive(draw) -> tuple[str, bytes]:
    if draw(st.booleans()):
        return ".tar.gz", draw(st.binary(max_size=64))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for split, group, post, body in draw(st.lists(st.tuples(
                st.sampled_from(["20news-bydate-train", "20news-bydate-test", "other"]),
                st.sampled_from(["sports.football", "science.physics.optics", "arts", "..", "a..b"]),
                st.sampled_from(["1", "2", "x"]), st.binary(max_size=20)), max_size=5)):
            info = tarfile.TarInfo(f"{split}/{group}/{post}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return ".tar.gz", buffer.getvalue()


corpus_files = st.one_of(jsonl_corpus(), table_corpus(), wos_corpus(), newsgroups_archive(),
                         st.tuples(st.just(".xlsx"), st.binary(max_size=64)))


# ---------------------------------------------------------------------------------------------
# Taxonomies and corpora through the library
# ---------------------------------------------------------------------------------------------


@given(taxonomy_files())
@example((".txt", b"Root sports science\nsports football tennis\n"))  # spaces instead of tabs
@example((".csv", b"parent,child\nRoot,\"" + b"x" * 200_000 + b"\"\n"))  # a field beyond csv's default limit
@example((".csv", b"parent,child\nRoot,\"sports\nsports,football\n"))  # an unterminated quote
@example((".json", b"[" * 100_000 + b"]" * 100_000))  # deep enough to exhaust recursion
@example((".tsv", b"Root\t\xe2\x80\x8b\n"))  # an invisible label
@example((".tsv", b"Root\tspo\x00rts\n"))  # NUL in a label
@example((".json", b'{"format": "hpt-hierarchy", "version": 1, "edges": [["Root", "\\ud800"]]}'))  # lone surrogate
def test_a_taxonomy_file_is_read_or_rejected_with_an_input_error(file):
    ext, raw = file
    with sandbox() as tmp:
        path = Path(tmp) / f"taxonomy{ext}"
        path.write_bytes(raw)
        try:
            hierarchy = LabelHierarchy.read(path)
        except HPTInputError as err:
            assert "\n" not in err.problem.strip() and str(path) in str(err)
            return
        # accepted: both writers give the same tree back
        assert LabelHierarchy.from_json(hierarchy.to_json(Path(tmp) / "again.json")) == hierarchy
        assert LabelHierarchy.from_tsv(hierarchy.to_tsv(Path(tmp) / "again.tsv")).labels == hierarchy.labels


@given(st.one_of(damaged(json.dumps({"sports": "games with a ball", "football": "the game of goals"})),
                json_values.map(lambda v: json.dumps(v).encode("utf-8"))))
@example(b'{"sports": "\\udc80"}')
def test_a_descriptions_file_is_read_or_rejected_with_an_input_error(raw):
    hierarchy = LabelHierarchy([(p, c) for p, cs in TAXONOMY for c in cs])
    with sandbox() as tmp:
        path = Path(tmp) / "descriptions.json"
        path.write_bytes(raw)
        try:
            described = hierarchy.with_descriptions(LabelHierarchy.read_descriptions(path), source=path)
        except HPTInputError as err:
            assert "\n" not in err.problem.strip() and str(path) in str(err)
            return
        assert LabelHierarchy.from_json(described.to_json(Path(tmp) / "again.json")) == described


@given(corpus_files)
@example((".csv", b"text,labels\n\"goal striker,football\nqubit,quantum\n"))  # unterminated quote
@example((".jsonl", b'{"text": "goal", "labels": ["Root"]}\n'))  # only the root
@example((".jsonl", b'{"text": "\\ud800 goal", "labels": ["arts"]}\n'))  # lone surrogate
@example((".jsonl", b'{"text": "goal", "labels": ' + b"[" * 100_000 + b"\n"))  # deep nesting
@example((".tar.gz", b"this is not an archive"))
def test_a_corpus_file_is_read_or_rejected_with_an_input_error(file):
    ext, raw = file
    hierarchy = LabelHierarchy([(p, c) for p, cs in TAXONOMY for c in cs])
    with sandbox() as tmp:
        path = Path(tmp) / f"corpus{ext}"
        path.write_bytes(raw)
        try:
            docs = read_corpus(path, hierarchy)
        except HPTInputError as err:
            assert "\n" not in err.problem.strip() and str(path) in str(err)
            return
        assert docs and all(d.labels and d.text.strip() for d in docs)
        assert read_corpus(write_jsonl(docs, Path(tmp) / "again.jsonl"), hierarchy) == docs


# ---------------------------------------------------------------------------------------------
# The CLI: import (taxonomy + corpus -> dataset folder)
# ---------------------------------------------------------------------------------------------


@given(taxonomy_files(), corpus_files, st.sampled_from(["out", "taxonomy-file/out", "taxonomy-file"]))
def test_import_writes_a_dataset_or_one_line_and_nothing(taxonomy, corpus, output):
    from hpt_core.data import load_dataset

    (tax_ext, tax_raw), (corpus_ext, corpus_raw) = taxonomy, corpus
    with sandbox() as tmp:
        root = Path(tmp)
        tax, data = root / f"tax{tax_ext}", root / f"corpus{corpus_ext}"
        tax.write_bytes(tax_raw)
        data.write_bytes(corpus_raw)
        out = root / output.replace("taxonomy-file", tax.name)
        before = snapshot(root)
        rc, _, err = run_cli(["import", "--taxonomy", str(tax), "--corpus", str(data), "--output", str(out)])
        if rc != 0:
            assert_rejected_cleanly(rc, err, before, snapshot(root), (tax.name, data.name, out.name))
            return
        dataset = load_dataset(out)
        assert all(dataset.splits[s] for s in ("train", "dev", "test"))
        assert sum(len(d) for d in dataset.splits.values()) == len(read_corpus(data, dataset.hierarchy)) \
            or corpus_ext == ".tar.gz"


def test_import_of_too_few_documents_writes_no_empty_split(tmp_path):
    tax = tmp_path / "t.tsv"
    tax.write_text(VALID_TAXONOMY[".tsv"], encoding="utf-8")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "goal", "labels": ["football"]}\n', encoding="utf-8")
    before = snapshot(tmp_path)
    rc, _, err = run_cli(["import", "--taxonomy", str(tax), "--corpus", str(corpus), "--output", str(tmp_path / "o")])
    assert_rejected_cleanly(rc, err, before, snapshot(tmp_path), ("c.jsonl",))
    assert "too few documents" in err


# ---------------------------------------------------------------------------------------------
# The CLI: training options (the training itself is replaced by its input checks)
# ---------------------------------------------------------------------------------------------

numbers = st.sampled_from(["0", "-1", "1", "2", "nan", "inf", "-inf", "1e-3", "0.5", "1e400", "x", "", "3e-5",
                           "99999999999999999999", "4294967296"])
OPTIONS = {
    "--seed": numbers, "--lr": numbers, "--new-params-lr": numbers, "--warmup-ratio": numbers,
    "--epochs": numbers, "--batch-size": numbers, "--grad-accum": numbers, "--patience": numbers,
    "--max-steps": numbers, "--max-length": st.sampled_from(["8", "16", "32", "512", "513", "100000", "-5"]),
    "--graph-layers": numbers, "--mlm-weight": numbers, "--text-residual-gate": numbers | st.just("none"),
    "--low-resource": numbers, "--recipe": st.sampled_from(["paper", "small-data", "nope"]),
    "--method": st.sampled_from(["hpt", "vanilla", "rm-mlm", "hard-prompt", "nope"]),
}


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return write_task(tmp_path_factory.mktemp("fuzz-task"), n_train=2, n_dev=1)


def _checks_only(captured: list):
    """Stands in for ``training.train``: every input check train() makes, then no training."""
    from hpt_core.backbone import check_backbone
    from hpt_core.run_data import load_run_data

    def fake_train(config, run_dir, **kwargs):
        hierarchy = load_run_data(config)[0]
        check_backbone(config.model, hierarchy.max_depth)
        captured.append(config)
        return {"best_epoch": 1, "dev": {"micro_f1": 1.0, "macro_f1": 1.0}}

    return fake_train


@given(st.dictionaries(st.sampled_from(sorted(OPTIONS)), st.just(None), max_size=5).flatmap(
    lambda chosen: st.fixed_dictionaries({name: OPTIONS[name] for name in chosen})))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_train_options_are_accepted_and_saved_or_rejected_in_one_line(task, tiny_backbone, options):
    from hpt_core.config import RunConfig

    captured: list = []
    with sandbox() as tmp, mock.patch("hpt_core.training.train", _checks_only(captured)):
        root = Path(tmp)
        argv = ["train", "--taxonomy", str(task["taxonomy"]), "--train", str(task["train"]), "--dev", str(task["dev"]),
                "--run-dir", str(root / "run"), "--backbone", tiny_backbone, "--max-length", "32"]
        for name, value in options.items():
            argv += [f"{name}={value}"]
        before = snapshot(root)
        rc, _, err = run_cli(argv)
        if rc != 0:
            assert_rejected_cleanly(rc, err, before, snapshot(root))
            return
        (config,) = captured
        saved = json.dumps(config.to_dict(), allow_nan=False)  # finite numbers only
        assert RunConfig.from_dict(json.loads(saved)) == config


@pytest.mark.parametrize("option, value", [
    ("--seeds", "1,x"), ("--seeds", ""), ("--seeds", ","), ("--seeds", "1,1"), ("--seeds", "-1"),
    ("--methods", ""), ("--methods", ","), ("--methods", "hpt,,vanilla"), ("--methods", "hpt,nope"),
])
def test_malformed_lists_of_seeds_and_methods_are_one_line(tmp_path, task, option, value):
    command = "low-resource" if option == "--seeds" else "ablate"
    argv = [command, "--taxonomy", str(task["taxonomy"]), "--train", str(task["train"]), "--dev", str(task["dev"]),
            "--out", str(tmp_path / "out"), f"{option}={value}"]
    before = snapshot(tmp_path)
    with mock.patch("hpt_core.training.train", side_effect=AssertionError("must not train")):
        rc, _, err = run_cli(argv)
    assert_rejected_cleanly(rc, err, before, snapshot(tmp_path))


def test_a_taxonomy_read_from_a_pipe_works(tmp_path, task, tiny_backbone):
    read_end, write_end = os.pipe()
    os.write(write_end, VALID_TAXONOMY[".txt"].encode("utf-8"))
    os.close(write_end)
    captured: list = []
    try:
        with mock.patch("hpt_core.training.train", _checks_only(captured)):
            rc, _, err = run_cli(["train", "--taxonomy", f"/dev/fd/{read_end}", "--train", str(task["train"]),
                                  "--dev", str(task["dev"]), "--run-dir", str(tmp_path / "run"),
                                  "--backbone", tiny_backbone, "--max-length", "32"])
    finally:
        os.close(read_end)
    assert rc == 0, err
    assert len(captured) == 1


# ---------------------------------------------------------------------------------------------
# Model folders, predict and neighbours
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, tiny_backbone):
    """An untrained (freshly initialised) model folder: loading and predicting need no training."""
    from hpt_core.hierarchy import LabelHierarchy
    from hpt_core.methods import resolve_method
    from hpt_core.model import build_model

    hierarchy = LabelHierarchy([(p, c) for p, cs in TAXONOMY for c in cs])
    model = build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32), hierarchy)
    return model.save_pretrained(tmp_path_factory.mktemp("fuzz-model") / "model")


texts = st.one_of(noise, st.text(max_size=20), st.sampled_from(["", " ", "\u200b", "\x00", "\ud800", "goal \udcff",
                                                                  "goal striker", "é" * 3000]))


@given(texts)
@settings(max_examples=MODEL_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_predict_classifies_a_text_or_rejects_it_in_one_line(model_folder, text):
    before = snapshot(model_folder)
    rc, out, err = run_cli(["predict", "--run-dir", str(model_folder), "--text", text, "--json"])
    if rc != 0:
        assert_rejected_cleanly(rc, err, before, snapshot(model_folder), ("--text",))
        return
    (line,) = out.splitlines()
    assert json.loads(line)["text"] == text


@given(st.lists(texts, min_size=0, max_size=4), st.sampled_from([b"", b"\xff\xfe", b"\n\n", b"\xed\xa0\x80"]))
@settings(max_examples=MODEL_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_predict_file_classifies_each_line_or_rejects_the_file_in_one_line(model_folder, lines, tail):
    with sandbox() as tmp:
        path = Path(tmp) / "texts.txt"
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + tail)
        before = snapshot(Path(tmp))
        rc, out, err = run_cli(["predict", "--run-dir", str(model_folder), "--file", str(path), "--json"])
        if rc != 0:
            assert_rejected_cleanly(rc, err, before, snapshot(Path(tmp)), ("texts.txt",))
            return
        # a leading byte-order mark is not part of the first text
        kept = [line for line in path.read_text(encoding="utf-8-sig").split("\n") if line.strip()]
        assert [json.loads(x)["text"] for x in out.splitlines()] == kept


@given(st.sampled_from(["", " ", "sports", "football", "Root", "nope", "\x00"]) | st.none(),
       st.sampled_from(["0", "-3", "1", "5", "100000", "x", ""]))
@settings(max_examples=MODEL_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_neighbours_options_are_answered_or_rejected_in_one_line(model_folder, label, k):
    argv = ["neighbours", "--run-dir", str(model_folder), "-k", k, "--json"]
    if label is not None:
        argv += ["--label", label]
    rc, out, err = run_cli(argv)
    if rc != 0:
        assert rc == 2 and len(err.splitlines()) == 1, err
        return
    result = json.loads(out)
    assert set(result) <= {"sports", "football"} | set(result) and all(len(v) <= int(k) for v in result.values())
    if label is not None:
        assert list(result) == [label]


@given(corpus_files)
@settings(max_examples=MODEL_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_evaluate_reports_on_a_corpus_or_rejects_it_in_one_line(model_folder, file):
    ext, raw = file
    with sandbox() as tmp:
        path = Path(tmp) / f"corpus{ext}"
        path.write_bytes(raw)
        before = snapshot(Path(tmp))
        rc, out, err = run_cli(["evaluate", "--run-dir", str(model_folder), "--data", str(path), "--json"])
        if rc != 0:
            assert_rejected_cleanly(rc, err, before, snapshot(Path(tmp)), (path.name,))
            return
        hierarchy = LabelHierarchy.from_json(model_folder / "hierarchy.json")
        assert json.loads(out)["n_documents"] == len(read_corpus(path, hierarchy))


def _tree_of(size: int) -> str:
    return json.dumps(LabelHierarchy([("Root", f"label{i}") for i in range(size)]).to_dict())


DAMAGES = {
    "config.json": st.one_of(st.binary(max_size=30), json_values.map(lambda v: json.dumps(v).encode()),
                             st.sampled_from([b'{"hpt": {}, "backbone_config": {}}',
                                              b'{"hpt": {}, "backbone_config": {"model_type": "no-such-model"}}',
                                              b'{"hpt": [], "backbone_config": {"model_type": "bert"}}',
                                              b'\xff{"hpt": {}}'])),
    "vocab.txt": st.binary(max_size=30) | st.just(None),
    "tokenizer_config.json": st.binary(max_size=30) | st.just(None),
    "special_tokens_map.json": st.binary(max_size=30) | st.just(None),
    "model.safetensors": st.one_of(st.just(b""), st.binary(max_size=64), st.just(None),
                                   st.integers(8, 400).map(lambda n: ("truncate", n))),
    "hierarchy.json": st.one_of(st.sampled_from([3, 6, 9]).map(lambda n: _tree_of(n).encode()),
                                json_values.map(lambda v: json.dumps(v).encode()), st.just(None)),
}


@given(st.sampled_from(sorted(DAMAGES)).flatmap(lambda name: st.tuples(st.just(name), DAMAGES[name])))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(("model.safetensors", b""))
@example(("config.json", b'{"hpt": {}, "backbone_config": {}}'))
def test_a_damaged_model_folder_is_not_usable_in_one_line(model_folder, damage):
    name, content = damage
    with sandbox() as tmp:
        folder = Path(shutil.copytree(model_folder, Path(tmp) / "model"))
        target = folder / name
        if content is None:
            target.unlink(missing_ok=True)
        elif isinstance(content, tuple):
            target.write_bytes(target.read_bytes()[: content[1]])
        else:
            target.write_bytes(content)
        before = snapshot(Path(tmp))
        rc, out, err = run_cli(["predict", "--run-dir", str(folder), "--text", "goal striker"])
        if rc != 0:
            assert_rejected_cleanly(rc, err, before, snapshot(Path(tmp)))
            assert "not a usable model folder" in err or "no trained model" in err
            return
        assert len(out.splitlines()) == 1  # what survived the damage still predicts


# ---------------------------------------------------------------------------------------------
# Run folders
# ---------------------------------------------------------------------------------------------


@given(st.one_of(st.binary(max_size=40), json_values.map(lambda v: json.dumps(v).encode()),
                 st.sampled_from([None, b"{", b'{"data": {}}'])),
       st.sampled_from(["folder", "file", "inside-file"]))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_used_or_blocked_run_folder_is_refused_in_one_line(task, tiny_backbone, run_json, kind):
    with sandbox() as tmp:
        root = Path(tmp)
        run_dir = root / "run"
        if kind == "folder":
            (run_dir / "checkpoint").mkdir(parents=True)
            (run_dir / "checkpoint" / "state.json").write_text("{}", encoding="utf-8")
            if run_json is not None:
                (run_dir / "run.json").write_bytes(run_json)
        else:
            run_dir.write_bytes(run_json or b"")
            run_dir = run_dir / "inner" if kind == "inside-file" else run_dir
        before = snapshot(root)
        rc, _, err = run_cli(["train", "--taxonomy", str(task["taxonomy"]), "--train", str(task["train"]),
                              "--dev", str(task["dev"]), "--run-dir", str(run_dir), "--backbone", tiny_backbone,
                              "--max-length", "32", "--epochs", "1"])
        assert_rejected_cleanly(rc, err, before, snapshot(root), ("run",))


def test_an_unknown_backbone_leaves_no_run_folder(tmp_path, task):
    before = snapshot(tmp_path)
    rc, _, err = run_cli(["train", "--taxonomy", str(task["taxonomy"]), "--train", str(task["train"]),
                          "--dev", str(task["dev"]), "--run-dir", str(tmp_path / "run"),
                          "--backbone", str(tmp_path / "no-such-backbone")])
    assert_rejected_cleanly(rc, err, before, snapshot(tmp_path), ("backbone",))
