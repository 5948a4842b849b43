"""The app's workspace: datasets (demo, uploads checked before saving, deletion) and run folders."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path

import pytest

from hpt_core.config import DataSpec, RunConfig
from hpt_core.data import load_dataset
from hpt_core.errors import HPTInputError
from hpt_core.methods import resolve_method
from hpt_core.uploads import texts_from_upload, upload_suffix
from hpt_core.workspace import DEMO, DEMO_DIR, Workspace, run_summary


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def upload(task_files):
    """The keyword arguments of a valid upload (the session's small task)."""
    return dict(taxonomy_bytes=task_files["taxonomy"].read_bytes(), taxonomy_suffix=".tsv",
                corpus_bytes=task_files["train"].read_bytes(), corpus_suffix=".jsonl")


def saved_names(ws: Workspace) -> list[str]:
    """Everything under datasets/, hidden temp folders included."""
    return sorted(p.name for p in ws.datasets_dir.iterdir()) if ws.datasets_dir.exists() else []


def test_root_from_environment_or_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HPT_WORKSPACE", str(tmp_path / "from-env"))
    assert Workspace().root == (tmp_path / "from-env").resolve()
    monkeypatch.delenv("HPT_WORKSPACE")
    monkeypatch.chdir(tmp_path)
    ws = Workspace()
    assert ws.root == (tmp_path / "workspace").resolve()
    assert ws.datasets_dir == ws.root / "datasets" and ws.runs_dir == ws.root / "runs"
    assert not ws.root.exists()  # nothing is created by looking


def test_demo_is_listed_first_and_read_only(ws):
    infos = ws.list_datasets()
    assert [i.name for i in infos] == [DEMO]
    demo = infos[0]
    assert demo.readonly and demo.path == DEMO_DIR
    assert demo.counts == {"train": 378, "dev": 108, "test": 108}
    assert (demo.labels, demo.depth) == (39, 3)
    spec = ws.dataset_files(DEMO)
    assert all(Path(p).is_file() for p in (spec.taxonomy, spec.train, spec.dev, spec.test))
    dataset = ws.load_dataset(DEMO)
    assert dataset.hierarchy.descriptions["Billing"].startswith("Anything about paying")
    with pytest.raises(HPTInputError, match="cannot be deleted"):
        ws.delete_dataset(DEMO)


def test_upload_is_checked_then_saved_atomically(ws, upload):
    dataset, skipped = ws.save_uploaded_dataset("tiny", **upload, corpus_label="my corpus.jsonl")
    assert skipped == 0
    folder = ws.datasets_dir / "tiny"
    files = ["dataset.json", "dev.jsonl", "taxonomy.tsv", "test.jsonl", "train.jsonl"]
    assert sorted(p.name for p in folder.iterdir()) == files
    assert saved_names(ws) == ["tiny"]  # no temp folder left beside it
    info = json.loads((folder / "dataset.json").read_text())
    assert info["source"] == "my corpus.jsonl" and "hpt-upload" not in json.dumps(info)  # no temp path recorded
    assert sum(info["counts"].values()) == 72
    assert load_dataset(folder).hierarchy == dataset.hierarchy
    assert [i.name for i in ws.list_datasets()] == [DEMO, "tiny"]
    assert ws.dataset_files("tiny").train == str(folder / "train.jsonl")
    with pytest.raises(HPTInputError, match="already exists"):
        ws.save_uploaded_dataset("tiny", **upload)
    ws.delete_dataset("tiny")
    assert saved_names(ws) == [] and ws.dataset_names() == [DEMO]


@pytest.mark.parametrize("change,message,line", [
    ({"corpus_bytes": b""}, "file is empty", None),
    ({"corpus_bytes": b'{"text": "a goal", "labels": ["football"]}\n{"text": "x", "labels": ["cooking"]}\n'},
     "'cooking' is not in the taxonomy", 2),
    ({"corpus_bytes": b'{"text": "a goal", "labels": ["football"]}\n{broken\n'}, "invalid JSON", 2),
    ({"corpus_bytes": '{"text": "caf\xe9", "labels": ["arts"]}\n'.encode("latin-1")}, "not valid utf-8", 1),
    ({"taxonomy_bytes": b"Root\tsports\nsports\tsports\n"}, "cycle", 2),
    ({"taxonomy_bytes": b"\xff\xfe\x00"}, "not valid utf-8", 1),
    ({"taxonomy_bytes": None}, "taxonomy file is needed", None),
    ({"corpus_suffix": ".exe"}, "unsupported file type", None),
    ({"taxonomy_suffix": ""}, "unsupported file type", None),
])
def test_bad_upload_saves_nothing(ws, upload, change, message, line):
    with pytest.raises(HPTInputError) as info:
        ws.save_uploaded_dataset("bad", **{**upload, **change}, taxonomy_label="T.tsv", corpus_label="C.jsonl")
    assert message in str(info.value).lower() or message in str(info.value)
    assert info.value.line == line
    assert "hpt-upload" not in str(info.value)  # errors name the upload, not the temp file
    assert saved_names(ws) == []


def test_size_limit_and_names(tmp_path, upload):
    small = Workspace(tmp_path / "ws", max_upload_bytes=100)
    with pytest.raises(HPTInputError, match="the limit is"):
        small.save_uploaded_dataset("big", **upload)
    ws = Workspace(tmp_path / "ws")
    for name in ("", "../evil", "a/b", "demo", ".hidden", "x" * 65, "<b>"):
        with pytest.raises(HPTInputError):
            ws.save_uploaded_dataset(name, **upload)
    assert saved_names(ws) == [] and not (tmp_path / "evil").exists()


def test_upload_names_never_become_paths(ws, upload):
    before = set(Path(tempfile.gettempdir()).glob("hpt-upload-*"))
    ws.save_uploaded_dataset("ok", **upload, corpus_label="../../escape.jsonl", taxonomy_label="/etc/x.tsv")
    assert not (ws.root.parent / "escape.jsonl").exists()
    assert set(Path(tempfile.gettempdir()).glob("hpt-upload-*")) == before  # the private temp folder is removed
    assert upload_suffix("../../a.TAR.GZ", (".gz", ".tar.gz")) == ".tar.gz"
    with pytest.raises(HPTInputError):
        upload_suffix("notes.exe", (".txt",))


def test_skipping_unknown_labels_is_opt_in(ws, upload):
    extra = upload["corpus_bytes"] + b'{"text": "x", "labels": ["cooking"]}\n'
    with pytest.raises(HPTInputError, match="cooking"):
        ws.save_uploaded_dataset("s", **{**upload, "corpus_bytes": extra})
    dataset, skipped = ws.save_uploaded_dataset("s", **{**upload, "corpus_bytes": extra}, skip_unknown=True)
    assert skipped == 1 and sum(len(d) for d in dataset.splits.values()) == 72


def test_other_corpus_formats(ws, task_files):
    taxonomy = task_files["taxonomy"].read_bytes()
    csv_corpus = "text,labels\n" + "".join(f"goal striker {i},sports;football\nlens laser {i},science;physics;optics\n"
                                             for i in range(10))
    ws.save_uploaded_dataset("csv", taxonomy, ".tsv", csv_corpus.encode(), ".csv")
    wos = "Y1\tY2\tY\tDomain\tarea\tkeywords\tAbstract\n" + "".join(
        f"0\t0\t0\tsports \t football\tk\tgoal striker {i}\n"  # padded fields, as in WOS
        f"1\t1\t1\tscience\tbiology\tk\tcell gene {i}\n" for i in range(10))
    dataset, _ = ws.save_uploaded_dataset("wos", taxonomy, ".tsv", wos.encode(), ".txt")
    assert {tuple(d.labels) for d in dataset.splits["train"]} == {("sports", "football"), ("science", "biology")}
    paths = b"sports/football\nsports/tennis\nscience/biology\n"
    dataset, _ = ws.save_uploaded_dataset("paths", paths, ".txt", csv_corpus.replace(";physics;optics", "").encode()
                                          .replace(b"science", b"science;biology"), ".csv")
    assert len(dataset.hierarchy) == 5


def test_label_descriptions_reach_the_runs(ws, task_files):
    assert ws.dataset_files(DEMO).descriptions == str(DEMO_DIR / "descriptions.json")
    taxonomy = json.dumps({"format": "hpt-hierarchy", "version": 1, "root": "Root",
                           "edges": [["Root", "sports"], ["sports", "football"], ["sports", "tennis"]],
                           "descriptions": {"football": "a game with a round ball"}}).encode()
    corpus = "".join(json.dumps({"text": f"goal {i}", "labels": ["sports", "football" if i % 2 else "tennis"]}) + "\n"
                     for i in range(20)).encode()
    ws.save_uploaded_dataset("described", taxonomy, ".json", corpus, ".jsonl")
    spec = ws.dataset_files("described")
    assert json.loads(Path(spec.descriptions).read_text()) == {"football": "a game with a round ball"}
    assert ws.load_dataset("described").hierarchy.descriptions == {"football": "a game with a round ball"}
    with pytest.raises(HPTInputError, match="no saved dataset"):
        ws.dataset_files("missing")


def test_20_newsgroups_archive_needs_no_taxonomy(ws):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for split, n in (("train", 6), ("test", 2)):
            for group in ("comp.graphics", "rec.sport.hockey"):
                for i in range(n):
                    data = f"From: a@b\nSubject: {group} {i}\n\npost about {group}\n".encode()
                    member = tarfile.TarInfo(f"20news-bydate-{split}/{group}/{i + 1}")
                    member.size = len(data)
                    archive.addfile(member, io.BytesIO(data))
    dataset, _ = ws.save_uploaded_dataset("ng", None, None, buffer.getvalue(), ".tar.gz")
    assert len(dataset.splits["test"]) == 4
    assert "rec.sport.hockey" in dataset.hierarchy and dataset.hierarchy.depth("rec.sport.hockey") == 3
    with pytest.raises(HPTInputError, match="tar archive"):
        ws.save_uploaded_dataset("broken", None, None, b"not a tarball", ".tar.gz")


def test_new_run_gets_a_safe_unique_folder(ws, task_files):
    config = RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}), model=resolve_method("hpt"))
    first = ws.new_run(config, "My run: <b>1</b>/../x")
    second = ws.new_run(config, "My run: <b>1</b>/../x")
    assert first.parent == second.parent == ws.runs_dir
    assert first.name == "my-run-b-1-b-x" and second.name == "my-run-b-1-b-x-2"
    saved = RunConfig.from_json(first / "run.json")
    assert saved.name == "My run: <b>1</b>/../x" and saved.model.method == "hpt"
    assert ws.new_run(config).name == "hpt"  # default: the method
    assert [p.name for p in ws.list_runs()] and ws.active_jobs() == []
    with pytest.raises(HPTInputError):
        ws.run_dir("../outside")


def test_run_summary(trained_run):
    row = run_summary(trained_run)
    assert row["run"] == trained_run.name and row["method"] == "hpt" and row["state"] == "completed"
    assert 0 <= row["dev macro-F1"] <= 100 and row["fraction"] == 1.0 and row["seed"] == 0
    assert "/" not in row["backbone"]  # a local folder shows as its name
    assert run_summary(trained_run.parent / "missing")["state"] == "new"


@pytest.mark.parametrize("suffix,data,expected", [
    (".txt", b"first text\n\n  second text  \r\n", ["first text", "second text"]),
    (".csv", b"id,text\n1,hello there\n2,\"quoted, text\"\n", ["hello there", "quoted, text"]),
    (".tsv", b"text\tx\nhello\t1\n", ["hello"]),
    (".jsonl", b'{"text": "a"}\n\n{"token": ["b", "c"]}\n', ["a", "b c"]),
])
def test_texts_from_upload(suffix, data, expected):
    assert texts_from_upload(data, suffix) == expected


def test_a_text_over_several_lines_is_named_with_its_lines():
    from hpt_core.uploads import texts_upload

    upload = texts_upload(b'id,text\n1,"goal striker\npitch"\n2,laser lens\n', ".csv")
    assert upload.texts == ["goal striker\npitch", "laser lens"] and upload.lines == [2, 4]
    assert upload.spanning == [(2, 3)]


@pytest.mark.parametrize("suffix,data,message", [
    (".txt", b"", "empty"),
    (".txt", b"\n\n", "no texts"),
    (".txt", b"ok\n\xff\n", "UTF-8"),
    (".csv", b"body\nx\n", "no 'text' column"),
    (".jsonl", b'{"text": "a"}\n[1]\n', "f:2: expected an object"),
    (".pdf", b"%PDF", "unsupported"),
    (".txt", b"a\nb\nc\n", "at most 2"),
    # an unterminated quote would take the rest of the file as one text
    (".csv", b'id,text\n1,ok\n2,"never closed\n3,hidden row\n', "f:3: a quoted field opens here and is never closed"),
])
def test_texts_from_upload_errors(suffix, data, message):
    with pytest.raises(HPTInputError, match=message.replace("(", r"\(")):
        texts_from_upload(data, suffix, label="f", max_texts=2)


def test_the_learning_curve_follows_the_runs_on_a_labelled_dataset(ws):
    """Issue 23: the runs on the demo and on its labelled copy, finished, fewest training
    documents first; unfinished runs and runs on other data are left out; a retrain is a run like
    the last one on the dataset's current files."""
    from hpt_core import runs
    from hpt_core.data import Document

    target, n_train = ws.add_labelled(DEMO, [Document("a new text about refunds", [ws.load_dataset(DEMO).hierarchy.labels[-1]])])
    assert target == ws.labelled_dataset(DEMO) == "demo-labelled"
    figures = {"on-demo": (DEMO, n_train - 1, 0.5), "on-copy": (target, n_train, 0.6), "unfinished": (target, n_train, None)}
    for name, (dataset, documents, dev) in figures.items():
        config = RunConfig(data=ws.dataset_files(dataset), model=resolve_method("hpt"))
        run_dir = ws.new_run(config, name)
        if dev is not None:
            runs.atomic_write_json(run_dir / runs.METRICS, {"method": "hpt", "train_documents": documents,
                                                            "dev": {"macro_f1": dev}})
    elsewhere = ws.runs_dir / "elsewhere"
    elsewhere.mkdir()
    RunConfig(data=DataSpec("/tmp/t.tsv", "/tmp/a.jsonl", "/tmp/b.jsonl")).to_json(elsewhere / runs.RUN_CONFIG)
    runs.atomic_write_json(elsewhere / runs.METRICS, {"train_documents": 5, "dev": {"macro_f1": 0.9}})
    curve = ws.learning_curve(target)
    assert [(p["run"], p["train_documents"], p["dev_macro_f1"]) for p in curve] == \
        [("on-demo", n_train - 1, 0.5), ("on-copy", n_train, 0.6)]
    again = ws.retrain_config(ws.runs_dir / "on-copy", target)
    assert again.data.train == ws.dataset_files(target).train and again.model == resolve_method("hpt")
    assert again.train.init_from is None
    with pytest.raises(HPTInputError, match="no trained model yet"):  # nothing to continue from
        ws.retrain_config(ws.runs_dir / "on-copy", target, warm_start=True)


def test_a_misclassified_documents_labels_are_corrected_in_its_split_and_recorded(ws):
    """Issue 23: the error browser sends a document to relabel; the correction replaces its labels in
    its own split (ancestors added), is recorded with its time, goes to the demo's copy, and refuses
    a text that is no longer at that place, an unknown label and no label — changing nothing."""
    test_docs = ws.load_dataset(DEMO).splits["test"]
    h = ws.load_dataset(DEMO).hierarchy
    leaf = next(label for label in h.labels if h.is_leaf(label) and label not in test_docs[3].labels)
    target = ws.relabel(DEMO, "test", 3, test_docs[3].text, [leaf])
    assert target == "demo-labelled"
    fixed = ws.load_dataset(target)
    assert fixed.splits["test"][3].labels == h.with_ancestors([leaf])
    assert [d.labels for i, d in enumerate(fixed.splits["test"]) if i != 3] == \
        [d.labels for i, d in enumerate(test_docs) if i != 3]  # nothing else moved
    assert ws.load_dataset(DEMO).splits["test"][3].labels == test_docs[3].labels  # the demo stays read-only
    (correction,) = fixed.meta["corrections"]
    assert (correction["split"], correction["document"], correction["from"], correction["to"]) == \
        ("test", 3, test_docs[3].labels, h.with_ancestors([leaf]))
    before = (ws.dataset_dir(target) / "test.jsonl").read_bytes()
    for args, message in [(("test", 3, "some other text", [leaf]), "not the text shown"),
                          (("test", 10_000, test_docs[3].text, [leaf]), "not the text shown"),
                          (("test", 3, test_docs[3].text, ["no such label"]), "not a label"),
                          (("test", 3, test_docs[3].text, []), "at least one label"),
                          (("nosplit", 3, test_docs[3].text, [leaf]), "no 'nosplit' split")]:
        with pytest.raises(HPTInputError, match=message):
            ws.relabel(target, *args)
    assert (ws.dataset_dir(target) / "test.jsonl").read_bytes() == before


def test_the_documents_labelled_or_corrected_in_the_app_export_as_a_corpus(ws):
    """Issue 23: what was labelled (appended to train) and corrected (in any split) in the app comes
    back as JSON Lines in the corpus format, each document once with its labels as they are now, in
    the order it was first touched — and reads back as a corpus against the dataset's tree."""
    import json

    from hpt_core.data import Document, read_corpus

    assert ws.labelled_in_app(DEMO) == ""
    h = ws.load_dataset(DEMO).hierarchy
    leaves = [label for label in h.labels if h.is_leaf(label)]
    target, _ = ws.add_labelled(DEMO, [Document("first new text", [leaves[0]]), Document("second new text", [leaves[1]])])
    test_docs = ws.load_dataset(target).splits["test"]
    ws.relabel(target, "test", 2, test_docs[2].text, [leaves[2]])
    ws.relabel(target, "test", 2, test_docs[2].text, [leaves[3]])  # corrected twice: exported once, as it is now
    ws.add_labelled(target, [Document("third new text", [leaves[4]])])
    lines = [json.loads(line) for line in ws.labelled_in_app(target).splitlines()]
    assert [line["text"] for line in lines] == ["first new text", "second new text", test_docs[2].text, "third new text"]
    assert lines[2]["labels"] == h.with_ancestors([leaves[3]]) and lines[0]["labels"] == h.with_ancestors([leaves[0]])
    exported = ws.root / "exported.jsonl"
    exported.write_text(ws.labelled_in_app(target), encoding="utf-8")
    assert len(read_corpus(exported, h)) == 4


def test_a_run_on_files_outside_the_workspace_adopts_them_as_a_dataset(ws, trained_run):
    """Issue 21: the Label page and the error browser refused runs trained on files elsewhere (a CLI
    run). Adopting makes those files a workspace dataset — the same documents — and points the run
    at it; a taken name, a second adoption and a running job are refused, changing nothing."""
    import json
    import shutil

    from hpt_core import runs
    from hpt_core.data import read_corpus

    run = ws.runs_dir / "cli-run"
    shutil.copytree(trained_run, run)
    before = json.loads((run / "run.json").read_text())
    assert ws.dataset_of_run(run) is None
    with pytest.raises(HPTInputError, match="bundled demo"):
        ws.adopt_run_data(run, DEMO)
    assert ws.adopt_run_data(run, "from-cli") == "from-cli"
    assert ws.dataset_of_run(run) == "from-cli"
    adopted = ws.load_dataset("from-cli")
    original = read_corpus(before["data"]["train"], adopted.hierarchy)
    assert [(d.text, d.labels) for d in adopted.splits["train"]] == [(d.text, d.labels) for d in original]
    assert adopted.meta["adopted_from_run"] == "cli-run"
    after = json.loads((run / "run.json").read_text())
    assert {k: v for k, v in after.items() if k != "data"} == {k: v for k, v in before.items() if k != "data"}
    with pytest.raises(HPTInputError, match="already"):
        ws.adopt_run_data(run, "again")
    second = ws.runs_dir / "queued-run"
    shutil.copytree(trained_run, second)
    with pytest.raises(HPTInputError, match="exists already"):
        ws.adopt_run_data(second, "from-cli")
    runs.atomic_write_json(second / "status.json", {**runs.read_json(second / "status.json"), "state": "queued",
                                                      "pid": __import__("os").getpid()})
    with pytest.raises(HPTInputError, match="queued or running"):
        ws.adopt_run_data(second, "other")
    assert "other" not in ws.dataset_names()


def test_two_tabs_labelling_one_dataset_at_once_lose_and_duplicate_nothing(ws):
    """Issue 23: two app sessions (two tabs: threads of one server) and a second server process
    write labels to one dataset at the same moments, each label a read-modify-write of the dataset;
    every label lands exactly once, with its annotation, and the corrections of a third writer too."""
    import subprocess
    import sys
    import threading

    from hpt_core.data import Document

    label = ws.load_dataset(DEMO).hierarchy.labels[-1]
    target, before = ws.add_labelled(DEMO, [Document("the first label makes the demo's copy", [label])])
    per_writer = 12
    errors = []

    def tab(name: str) -> None:
        try:
            for i in range(per_writer):
                ws.add_labelled(DEMO, [Document(f"{name} text {i}", [label])])
        except Exception as err:  # noqa: BLE001 — reported below, with the writer's name
            errors.append((name, err))

    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
              "from hpt_core.data import Document\nfrom hpt_core.workspace import Workspace\n"
              f"ws = Workspace({str(ws.root)!r})\n"
              f"for i in range({per_writer}): ws.add_labelled('demo', [Document(f'process text {{i}}', [{label!r}])])\n")
    other_server = subprocess.Popen([sys.executable, "-c", script])
    tabs = [threading.Thread(target=tab, args=(f"tab{k}",)) for k in range(2)]
    for t in tabs:
        t.start()
    for t in tabs:
        t.join()
    assert other_server.wait(timeout=300) == 0 and not errors, errors
    train = ws.load_dataset(target).splits["train"]
    texts = [d.text for d in train]
    written = [f"{name} text {i}" for name in ("tab0", "tab1", "process") for i in range(per_writer)]
    assert len(train) == before + len(written) and all(texts.count(t) == 1 for t in written)
    annotations = json.loads((ws.datasets_dir / target / "dataset.json").read_text())["annotations"]
    assert sorted(a["document"] for a in annotations) == list(range(before - 1, len(train)))
