"""The app's workspace: saved datasets and run folders under one root, without any UI code.

Layout of ``root`` (default ``./workspace``, or the ``HPT_WORKSPACE`` environment variable)::

    datasets/<name>/   a dataset folder written by :func:`hpt_core.data.save_dataset`
    runs/<name>/       a run folder (``run.json`` …, see :mod:`hpt_core.runs`); the device
                       queue is the machine's own (:func:`hpt_core.runs.lock_dir`)

The bundled demo (``assets/demo``) is always listed first and is read-only.

Uploaded bytes are never trusted: they are written under generated names into a private temp
folder, read and checked completely, and only then saved (atomically) as a dataset. An upload's
own file name is never used as a path — only its suffix, checked against a list, decides how the
file is read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from hpt_core import runs
from hpt_core.config import DataSpec, RunConfig
from hpt_core.data import Dataset, Document, import_corpus, load_dataset, read_corpus, save_dataset, split_corpus
from hpt_core.errors import HPTInputError
from hpt_core.inputs import check_text
from hpt_core.hierarchy import LabelHierarchy, atomic_write_text
from hpt_core.uploads import MAX_UPLOAD_BYTES, check_upload

DEMO = "demo"
DEMO_DIR = Path(__file__).resolve().parents[1] / "assets" / "demo"
ENV_VAR = "HPT_WORKSPACE"
#: The lock file (in the datasets folder) of every write of labels: one at a time, across tabs and servers.
LABELLING_LOCK = ".labelling.lock"
#: Label descriptions of a dataset folder, ``{label: text}`` (they can initialise the label words).
DESCRIPTIONS = "descriptions.json"

#: Suffixes an uploaded file may have, per role (lower case, the dot included).
TAXONOMY_SUFFIXES = (".tsv", ".taxonomy", ".taxnomy", ".csv", ".txt", ".json")
CORPUS_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".txt", ".xlsx", ".tar.gz", ".tgz", ".tar", ".tar.bz2")
CORPUS_FORMATS = ("auto", "jsonl", "csv", "tsv", "wos", "20ng")

_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass
class DatasetInfo:
    """One entry of :meth:`Workspace.list_datasets`."""

    name: str
    path: Path
    readonly: bool
    counts: dict[str, int] = field(default_factory=dict)
    labels: int | None = None
    depth: int | None = None


class Workspace:
    """Datasets and runs of the app under one folder.

    Args:
        root (str or Path, *optional*): the workspace folder; defaults to ``$HPT_WORKSPACE`` or
            ``./workspace``. Created on first write.
        max_upload_bytes (int, defaults to :data:`MAX_UPLOAD_BYTES`): largest accepted upload.
    """

    def __init__(self, root: str | Path | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES):
        self.root = Path(root or os.environ.get(ENV_VAR) or "workspace").resolve()
        self.datasets_dir = self.root / "datasets"
        self.runs_dir = self.root / "runs"
        self.max_upload_bytes = max_upload_bytes

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # ---- datasets ------------------------------------------------------------------------------

    def list_datasets(self) -> list[DatasetInfo]:
        """The demo first, then saved datasets by name. A damaged folder is listed without counts."""
        return [self.dataset_info(name) for name in self.dataset_names()]

    def dataset_info(self, name: str) -> DatasetInfo:
        """Counts, labels and depth of one dataset (from ``dataset.json``; read from the files for the demo)."""
        if name == DEMO:
            return self._info(name, DEMO_DIR, readonly=True)
        self._check_name(name)
        return self._info(name, self.datasets_dir / name, readonly=False)

    def dataset_names(self) -> list[str]:
        """The demo, then saved datasets (cheap: no file is read)."""
        names = [DEMO]
        if self.datasets_dir.is_dir():
            names += sorted((p.name for p in self.datasets_dir.iterdir()
                             if p.is_dir() and _DATASET_NAME.match(p.name) and (p / "taxonomy.tsv").is_file()),
                            key=str.lower)
        return names

    @staticmethod
    def _info(name: str, path: Path, readonly: bool) -> DatasetInfo:
        info = runs.read_json(path / "dataset.json", {}) or {}
        if not isinstance(info, dict):
            info = {}
        labels, depth = info.get("labels"), info.get("depth")
        if labels is None:  # the demo has no dataset.json: read its taxonomy and count lines
            try:
                h = LabelHierarchy.read(path / "taxonomy.tsv")
                labels, depth = len(h), h.max_depth
            except HPTInputError:
                pass
        counts = info.get("counts")
        if not isinstance(counts, dict):
            order = {"train": 0, "dev": 1, "test": 2}
            files = sorted(path.glob("*.jsonl"), key=lambda f: (order.get(f.stem, 3), f.stem))
            counts = {f.stem: _count_lines(f) for f in files}
        return DatasetInfo(name, path, readonly, counts, labels, depth)

    def dataset_dir(self, name: str) -> Path:
        """The folder of dataset ``name``; an unknown or malformed name is an error."""
        if name == DEMO:
            return DEMO_DIR
        self._check_name(name)
        path = self.datasets_dir / name
        if not (path / "taxonomy.tsv").is_file():
            raise HPTInputError(f"no saved dataset named {name!r}")
        return path

    def dataset_files(self, name: str) -> DataSpec:
        """Absolute paths of a dataset's taxonomy and splits, as a run's ``DataSpec``."""
        path = self.dataset_dir(name)
        for split in ("train", "dev"):
            if not (path / f"{split}.jsonl").is_file():
                raise HPTInputError(f"dataset {name!r} has no {split} split", path)
        test = path / "test.jsonl"
        has_test = test.is_file() and test.stat().st_size > 0
        descriptions = path / DESCRIPTIONS
        return DataSpec(taxonomy=str(path / "taxonomy.tsv"), train=str(path / "train.jsonl"),
                        dev=str(path / "dev.jsonl"), test=str(test) if has_test else None,
                        descriptions=str(descriptions) if descriptions.is_file() else None)

    def load_dataset(self, name: str) -> Dataset:
        """Load a dataset with its label descriptions (``descriptions.json``, as the demo has)."""
        path = self.dataset_dir(name)
        dataset = load_dataset(path)
        if (path / DESCRIPTIONS).is_file():
            descriptions = LabelHierarchy.read_descriptions(path / DESCRIPTIONS)
            dataset.hierarchy = dataset.hierarchy.with_descriptions(descriptions)
        dataset.name = name
        return dataset

    def dataset_of_run(self, run_dir: str | Path) -> str | None:
        """The workspace dataset a run was trained on (its taxonomy file lies in that dataset's
        folder, or the demo's), or ``None`` for a run trained on files elsewhere."""
        config = runs.read_json(Path(run_dir) / runs.RUN_CONFIG, {}) or {}
        taxonomy = ((config.get("data") or {}).get("taxonomy")) or ""
        if not taxonomy:
            return None
        folder = Path(taxonomy).resolve().parent
        if folder == DEMO_DIR.resolve():
            return DEMO
        if folder.parent == self.datasets_dir.resolve() and folder.name in self.dataset_names():
            return folder.name
        return None

    def add_labelled(self, name: str, documents: list[Document]) -> tuple[str, int]:
        """Append newly labelled ``documents`` (each label's ancestors added) to dataset ``name``'s
        training split, so the next run trains on them; the dataset is rewritten whole or not at
        all (``save_dataset``). The bundled demo is read-only: its first labels go into a copy,
        ``<name>-labelled`` (kept for the next ones). Returns the dataset written and its training
        documents now. A label outside the tree, or a document without labels or text, is refused."""
        with self._labelling():
            return self._add_labelled(name, documents)

    def _labelling(self):
        """The lock every write of labels holds over its read-modify-write of a dataset: two tabs, or
        two servers, labelling one dataset at once must neither lose nor duplicate a label."""
        from hpt_core import durable

        return durable.exclusive(self.datasets_dir / LABELLING_LOCK)

    def _add_labelled(self, name: str, documents: list[Document]) -> tuple[str, int]:
        target, dataset = self._labelled_copy(name)
        added = []
        for i, doc in enumerate(documents, start=1):
            check_text(doc.text, None)
            try:
                added.append(Document(doc.text, _chosen_labels(dataset.hierarchy, doc.labels, name)))
            except HPTInputError as err:
                raise HPTInputError(f"document {i}: {err.problem}") from None
        first = len(dataset.splits.get("train", []))
        dataset.splits["train"] = [*dataset.splits.get("train", []), *added]
        dataset.meta["labelled_in_app"] = int(dataset.meta.get("labelled_in_app", 0)) + len(added)
        now = round(time.time(), 3)
        dataset.meta["annotations"] = [*(dataset.meta.get("annotations") or []),
                                       *({"time": now, "split": "train", "document": first + k} for k in range(len(added)))]
        dataset.name = target
        save_dataset(self.datasets_dir / target, dataset, overwrite=True)
        return target, len(dataset.splits["train"])

    def relabel(self, name: str, split: str, index: int, text: str, labels: list[str]) -> str:
        """Correct the labels of document ``index`` (0-based, in file order) of dataset ``name``'s
        ``split`` — a document the error browser showed misclassified, whose gold labels were wrong
        (issue 23). ``text`` must still be that document's: a dataset changed since it was shown
        is refused rather than the wrong document relabelled. The correction is recorded in the
        dataset's ``dataset.json`` (``corrections``: time, split, document, labels before and
        after); the demo's go into ``demo-labelled``, as ``add_labelled``'s. Returns the dataset
        written."""
        with self._labelling():
            return self._relabel(name, split, index, text, labels)

    def _relabel(self, name: str, split: str, index: int, text: str, labels: list[str]) -> str:
        target, dataset = self._labelled_copy(name)
        documents = dataset.splits.get(split)
        if documents is None:
            raise HPTInputError(f"dataset {name!r} has no {split!r} split")
        if not 0 <= index < len(documents) or documents[index].text != text:
            raise HPTInputError(f"document #{index} of {name!r}/{split} is not the text shown (the dataset changed "
                                "since): open the error browser again")
        before = list(documents[index].labels)
        documents[index] = Document(text, _chosen_labels(dataset.hierarchy, labels, name))
        corrections = list(dataset.meta.get("corrections") or [])
        corrections.append({"time": round(time.time(), 3), "split": split, "document": index, "from": before,
                            "to": documents[index].labels})
        dataset.meta["corrections"] = corrections
        dataset.name = target
        save_dataset(self.datasets_dir / target, dataset, overwrite=True)
        return target

    def labelled_in_app(self, name: str) -> str:
        """The documents of dataset ``name`` labelled or corrected in the app, as JSON Lines in the
        corpus format (``{"text", "labels"}``, labels as they are now, ancestors included), in the
        order they were first labelled — a document corrected twice comes once. Read from the
        records ``add_labelled`` (``annotations``) and ``relabel`` (``corrections``) keep in
        ``dataset.json``; empty when there are none."""
        from hpt_core.data import corpus_lines

        dataset = self.load_dataset(name)
        events = sorted([*(dataset.meta.get("annotations") or []), *(dataset.meta.get("corrections") or [])],
                        key=lambda event: event.get("time", 0))
        seen, documents = set(), []
        for event in events:
            key = (event.get("split"), event.get("document"))
            split = dataset.splits.get(key[0]) or []
            if key in seen or not isinstance(key[1], int) or not 0 <= key[1] < len(split):
                continue
            seen.add(key)
            documents.append(split[key[1]])
        return corpus_lines(documents)

    def _labelled_copy(self, name: str) -> tuple[str, Dataset]:
        """Where labels for dataset ``name`` go (``labelled_dataset``) and that dataset as it is now
        (the demo's copy once it exists, else ``name`` itself)."""
        target = self.labelled_dataset(name)
        return target, self.load_dataset(target if target in self.dataset_names() else name)

    def adopt_run_data(self, run_dir: str | Path, name: str) -> str:
        """Make the files a run was trained on (outside the workspace: a CLI run, a benchmark) the
        workspace dataset ``name`` — its tree and its train/dev/test splits, read as training read
        them — and point the run at them, so that the Label page and the error browser can add and
        correct labels for it (issue 21: they refused such runs). The run's documents do not change,
        only where they are read from; ``dataset.json`` records the files they came from. Refused,
        changing nothing, for a run whose job is queued or running, a run already on a workspace
        dataset, a taken or bad name, or files that no longer read."""
        run_dir = Path(run_dir)
        self._check_name(name)
        if name in self.dataset_names():
            raise HPTInputError(f"a dataset named {name!r} exists already; choose another name")
        trained_on = self.dataset_of_run(run_dir)
        if trained_on is not None:
            raise HPTInputError(f"run {run_dir.name!r} is trained on the workspace dataset {trained_on!r} already")
        if runs.run_status(run_dir).get("state") in runs.ACTIVE_STATES:
            raise HPTInputError(f"run {run_dir.name!r} is queued or running; adopt its files when it has finished")
        config = runs.read_json(run_dir / runs.RUN_CONFIG, None)
        data = (config or {}).get("data") if isinstance(config, dict) else None
        if not isinstance(data, dict) or not data.get("taxonomy") or not data.get("train") or not data.get("dev"):
            raise HPTInputError("its run.json names no taxonomy, train and dev files", run_dir / runs.RUN_CONFIG)
        hierarchy = LabelHierarchy.read(data["taxonomy"])
        if data.get("descriptions"):
            hierarchy = hierarchy.with_descriptions(LabelHierarchy.read_descriptions(data["descriptions"]))
        splits = {split: read_corpus(data[split], hierarchy) for split in ("train", "dev", "test") if data.get(split)}
        sources = {key: str(value) for key, value in data.items() if value}
        save_dataset(self.datasets_dir / name, Dataset(hierarchy, splits, name,
                                                       meta={"adopted_from_run": run_dir.name, "source_files": sources}))
        files = self.dataset_files(name)
        config["data"] = {**data, "taxonomy": files.taxonomy, "train": files.train, "dev": files.dev,
                          **({"test": files.test} if data.get("test") else {})}
        runs.atomic_write_json(run_dir / runs.RUN_CONFIG, config)
        return name

    def labelled_dataset(self, name: str) -> str:
        """Where the labels of dataset ``name`` go (``add_labelled``): itself, or for the read-only
        demo its copy ``demo-labelled``."""
        return name if name != DEMO else f"{DEMO}-labelled"

    def retrain_config(self, run_dir: str | Path, dataset: str, warm_start: bool = False,
                       score_test: bool = True) -> RunConfig:
        """A fresh run like ``run_dir``'s — its method, recipe, settings and seed — on dataset
        ``dataset``'s files as they are now (the retrain of the labelling loop: issue 23). A
        zero-shot run, which trained nothing, is followed by the default recipe's HPT; a warm-started
        run by the training settings of the first run of its chain (``_fresh_training``). Every
        labelled document is trained on (no low-resource sample). ``warm_start``: begin from ``run_dir``'s trained model for at most
        ``warm_start.WARM_START_EPOCHS`` epochs instead of from the pretrained backbone, each epoch
        reading the documents new to that model and ``warm_start.WARM_START_REPLAY`` of the others
        (``hpt_core.replay``; a trained run only: a zero-shot run has no model to start from), its
        rate warmed up and decayed (``warm_start.WARM_START_SCHEDULE``). ``score_test=False``: the
        run scores dev only (the learning curve's figure), not the dataset's test split — a quick
        round's last minute and a half on 2,000 test documents."""
        from hpt_core.replay import TRAINED_ON
        from hpt_core.warm_start import (LEGACY_WARM_START_EPOCHS, WARM_START_EPOCHS, WARM_START_REPLAY,
                                         WARM_START_SCHEDULE, WARM_START_WARMUP)

        config = RunConfig.from_json(Path(run_dir) / runs.RUN_CONFIG)
        if runs.is_zero_shot_run(run_dir):
            if warm_start:
                raise HPTInputError("a zero-shot run trained no model to start from: retrain fresh", run_dir)
            from hpt_core.recipes import DEFAULT_RECIPE, pipeline_recipe, train_recipe
            from hpt_core.methods import resolve_method

            config = RunConfig(data=config.data, model=resolve_method("hpt", recipe=DEFAULT_RECIPE),
                               train=train_recipe(DEFAULT_RECIPE), pipeline=pipeline_recipe(DEFAULT_RECIPE))
        files = self.dataset_files(dataset)
        config = config.replace(data=files if score_test else files.replace(test=None), name="",
                                # every labelled document is trained on: a low-resource sample of the grown
                                # split would drop new labels and redraw the old ones
                                train=config.train.replace(low_resource=None))
        if warm_start:
            if not runs.has_trained_model(run_dir):
                raise HPTInputError("this run has no trained model yet to start from", run_dir)
            source = str(Path(run_dir).resolve() / runs.MODEL_DIR)
            if (Path(run_dir) / TRAINED_ON).is_file():
                config = config.replace(train=config.train.replace(
                    init_from=source, epochs=min(config.train.epochs, WARM_START_EPOCHS),
                    replay_documents=WARM_START_REPLAY, schedule=WARM_START_SCHEDULE, warmup_ratio=WARM_START_WARMUP))
            else:  # a run from before its record of what it learnt from: every document, a few epochs
                config = config.replace(train=config.train.replace(
                    init_from=source, epochs=min(config.train.epochs, LEGACY_WARM_START_EPOCHS), replay_documents=None))
        else:
            config = config.replace(train=_fresh_training(config.train))
        return config

    def learning_curve(self, dataset: str) -> list[dict]:
        """The labelling loop's learning curve: each finished run on dataset ``dataset`` (and, for
        ``demo-labelled``, on the demo it grew from) — its training documents, dev macro-F1 and
        method — fewest documents first. Dev is the same split throughout, so the points compare."""
        datasets = {dataset} | ({DEMO} if dataset == self.labelled_dataset(DEMO) else set())
        points = []
        for run_dir in self.list_runs():
            metrics = runs.read_json(run_dir / runs.METRICS)
            if not isinstance(metrics, dict) or not isinstance(metrics.get("dev"), dict):
                continue
            if self.dataset_of_run(run_dir) not in datasets:
                continue
            points.append({"run": run_dir.name, "train_documents": int(metrics.get("train_documents") or 0),
                           "dev_macro_f1": float(metrics["dev"]["macro_f1"]),
                           "method": str(metrics.get("method") or "")})
        return sorted(points, key=lambda point: (point["train_documents"], point["run"]))

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not _DATASET_NAME.match(name):
            raise HPTInputError(
                "dataset name: 1–64 characters, letters, digits, '_' and '-', starting with a letter or digit")
        if name == DEMO:
            raise HPTInputError(f"{DEMO!r} is the bundled demo; choose another name")

    def save_uploaded_dataset(
        self,
        name: str,
        taxonomy_bytes: bytes | None,
        taxonomy_suffix: str | None,
        corpus_bytes: bytes,
        corpus_suffix: str,
        format: str = "auto",
        *,
        seed: int = 0,
        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        skip_unknown: bool = False,
        text_column: str = "text",
        taxonomy_label: str = "taxonomy",
        corpus_label: str = "corpus",
        given: dict[str, tuple[bytes, str, str]] | None = None,
    ) -> tuple[Dataset, int]:
        """Check an uploaded taxonomy and corpus completely, then save them as dataset ``name``.

        ``given`` holds the corpus's own dev and/or test files, ``{"dev": (bytes, suffix, shown name),
        "test": …}``: the corpus is then the train file and is not split (a missing dev split is
        drawn from train with ``fractions[1]``). Without it the corpus is split by ``fractions``.

        Returns the dataset and the number of documents skipped (only with ``skip_unknown``:
        documents whose labels are not in the taxonomy); ``dataset.meta["skipped"]`` lists them
        (``{"file", "line", "problem"}``). Nothing is written under the workspace unless everything
        is valid. Errors name ``taxonomy_label`` / ``corpus_label`` (e.g. the upload's displayed name)
        instead of the temp files; a corpus with labels outside the taxonomy is rejected with every
        such label, its number of documents and its first line.

        Raises:
            HPTInputError: bad name, unsupported suffix, empty or oversized file, or any problem
                the readers find (with its line).
        """
        self._check_name(name)
        if (self.datasets_dir / name).exists():
            raise HPTInputError(f"a dataset named {name!r} already exists; delete it first or choose another name")
        if format not in CORPUS_FORMATS:
            raise HPTInputError(f"unknown corpus format {format!r}; choose one of {', '.join(CORPUS_FORMATS)}")
        given = {split: item for split, item in (given or {}).items() if item is not None}
        if set(given) - {"dev", "test"}:
            raise HPTInputError("given splits are dev and test (the corpus is train)")
        corpus_suffix = check_upload(corpus_bytes, corpus_suffix, CORPUS_SUFFIXES, corpus_label, self.max_upload_bytes)
        for split, (data, suffix, label) in given.items():
            check_upload(data, suffix, CORPUS_SUFFIXES, label, self.max_upload_bytes)
        if taxonomy_bytes is not None:
            taxonomy_suffix = check_upload(taxonomy_bytes, taxonomy_suffix, TAXONOMY_SUFFIXES, taxonomy_label,
                                           self.max_upload_bytes)

        # A private folder (mode 0700) with names we choose: the user's file names never become paths.
        private = Path(tempfile.mkdtemp(prefix="hpt-upload-"))
        try:
            corpus_path = private / f"corpus{corpus_suffix}"
            corpus_path.write_bytes(corpus_bytes)
            files = {"train": (corpus_path, corpus_label)}
            names = {str(corpus_path): corpus_label, str(private): "upload"}
            for split, (data, suffix, label) in given.items():
                path = private / f"{split}{suffix.lower()}"
                path.write_bytes(data)
                files[split] = (path, label)
                names[str(path)] = label
            taxonomy_path = None
            if taxonomy_bytes is not None:
                taxonomy_path = private / f"taxonomy{taxonomy_suffix}"
                taxonomy_path.write_bytes(taxonomy_bytes)
                names[str(taxonomy_path)] = taxonomy_label

            def read(on_unknown: str) -> Dataset:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # skipped documents are listed in the dataset's meta
                    if given:
                        return _dataset_from_files(taxonomy_path, files, format, seed, fractions, on_unknown, name,
                                                   text_column)
                    # import_corpus reads, checks and converts into the private folder; only the checked
                    # dataset is then saved (atomically) under the workspace.
                    dataset = import_corpus(
                        str(taxonomy_path) if taxonomy_path else None, str(corpus_path),
                        str(private / f"checked-{on_unknown}"), format=format, seed=seed, fractions=fractions,
                        on_unknown=on_unknown, name=name, text_column=text_column)
                    for entry in dataset.meta.get("skipped", []):
                        entry["file"] = corpus_label
                    return dataset

            try:
                try:
                    dataset = read("skip" if skip_unknown else "error")
                except HPTInputError as err:
                    if skip_unknown or not _is_label_problem(err):
                        raise
                    # Say every label that does not fit, not only the first: read once more, skipping.
                    # When too few documents are left to split, that read fails too: say the first.
                    try:
                        listed = read("skip").meta.get("skipped", [])
                    except HPTInputError:
                        raise err from None
                    raise _unknown_labels_error(listed, err) from None
            except HPTInputError as err:
                raise _relabelled(err, names) from None
            skipped = int(dataset.meta.get("skipped_documents", 0))
            dataset.meta.update(source=corpus_label, taxonomy_source=taxonomy_label if taxonomy_bytes is not None else None,
                                imported=time.strftime("%Y-%m-%d %H:%M:%S"),
                                given_splits=sorted(given) or None)
            if not dataset.splits.get("train") or not dataset.splits.get("dev"):
                raise HPTInputError("too few documents: train and dev must each hold at least one", corpus_label)
            target = save_dataset(self.datasets_dir / name, dataset)
            if dataset.hierarchy.descriptions:  # a JSON taxonomy may carry them: runs read them from here
                text = json.dumps(dataset.hierarchy.descriptions, ensure_ascii=False, indent=1)
                atomic_write_text(target / DESCRIPTIONS, text)
            return dataset, skipped
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def delete_dataset(self, name: str) -> None:
        """Remove a saved dataset (never the demo). Runs trained on it keep their own files' paths."""
        if name == DEMO:
            raise HPTInputError("the bundled demo cannot be deleted")
        path = self.dataset_dir(name)
        # Rename first, so a half-deleted folder never shows up as a dataset.
        trash = Path(tempfile.mkdtemp(prefix=f".{name}.deleted-", dir=self.datasets_dir))
        os.replace(path, trash / "data")
        shutil.rmtree(trash, ignore_errors=True)

    # ---- runs ----------------------------------------------------------------------------------

    def list_runs(self) -> list[Path]:
        """Run folders, newest launch first (``runs.list_runs``)."""
        return runs.list_runs(self.runs_dir)

    def active_jobs(self) -> list[tuple[Path, dict]]:
        return runs.active_jobs(self.runs_dir)

    def run_dir(self, name: str) -> Path:
        """The folder of run ``name`` (a folder name under ``runs/``; no path tricks)."""
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or ".." in name:
            raise HPTInputError(f"bad run name {name!r}")
        return self.runs_dir / name

    def new_run(self, config: RunConfig, name: str = "") -> Path:
        """Create a run folder with ``run.json`` for ``config``; returns it (not launched).

        The folder name is a slug of ``name`` (or the method) made unique with ``-2``, ``-3``…
        """
        base = _slug(name or config.name or config.model.method) or "run"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            candidate = self.runs_dir / (base if n == 1 else f"{base}-{n}")
            try:
                candidate.mkdir()  # atomic: two launches never share a folder
            except FileExistsError:
                continue
            config = config.replace(name=config.name or name or candidate.name)
            config.to_json(candidate / runs.RUN_CONFIG)
            return candidate
        raise HPTInputError(f"too many runs named {base!r}; choose another name")


def _chosen_labels(hierarchy, labels: list[str], name: str) -> list[str]:
    """Labels picked in the app for one document, with their ancestors; none, or one outside the
    tree of dataset ``name``, is refused."""
    if not labels:
        raise HPTInputError("choose at least one label")
    unknown = [label for label in labels if label not in hierarchy]
    if unknown:
        raise HPTInputError(f"{unknown[0]!r} is not a label of dataset {name!r}")
    return hierarchy.with_ancestors(labels)


def run_summary(run_dir: str | Path) -> dict:
    """One row describing a run folder: name, method, dataset, state and headline figures (in %)."""
    run_dir = Path(run_dir)
    config = runs.read_json(run_dir / runs.RUN_CONFIG, {}) or {}
    metrics = runs.read_json(run_dir / runs.METRICS, {}) or {}
    status = runs.run_status(run_dir)
    model, train = config.get("model") or {}, config.get("train") or {}
    taxonomy = (config.get("data") or {}).get("taxonomy")
    dataset = None
    if taxonomy:
        folder = Path(taxonomy).resolve().parent
        dataset = DEMO if folder == DEMO_DIR else folder.name
    backbone = model.get("backbone")
    if backbone and Path(backbone).is_absolute():
        backbone = Path(backbone).name  # a local folder: its name is enough in a table
    row = {"run": run_dir.name, "method": model.get("method") or metrics.get("method"), "dataset": dataset,
           "state": status.get("state", "new")}
    for split in ("dev", "test"):
        report = metrics.get(split) or {}
        for key in ("micro_f1", "macro_f1"):
            value = report.get(key)
            row[f"{split} {key.replace('_f1', '-F1')}"] = None if value is None else round(100 * value, 2)
    zero_shot = runs.is_zero_shot_run(run_dir)  # trained nothing: its run.json's seed is TrainConfig's default
    row.update(fraction=train.get("low_resource") or 1.0, seed=None if zero_shot else train.get("seed"), backbone=backbone,
               device=status.get("device"))
    started = status.get("started") or status.get("launched")
    row["started"] = time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else None
    return row


def _slug(text: str, limit: int = 48) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return slug[:limit].strip("-")


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return 0


def _is_label_problem(err: HPTInputError) -> bool:
    """Whether a reader's error is about a label that does not fit the taxonomy (what "skip" drops)."""
    return "not in the taxonomy" in err.problem or "does not match the taxonomy" in err.problem


def _unknown_labels_error(skipped: list[dict], first: HPTInputError) -> HPTInputError:
    """One error naming every problem label with its number of documents and first line."""
    if not skipped:
        return first
    by_problem: dict[str, list] = {}
    for entry in skipped:
        by_problem.setdefault(entry["problem"], []).append(entry)
    parts = []
    for problem, entries in sorted(by_problem.items(), key=lambda item: -len(item[1])):
        where = f"{entries[0].get('file') or 'corpus'} line {entries[0].get('line')}"
        parts.append(f"{problem} ({len(entries)} document{'s' if len(entries) > 1 else ''}; first: {where})")
    return HPTInputError(f"{len(skipped)} document(s) have labels that do not fit the taxonomy — "
                         + "; ".join(parts) + ". Fix the files, or tick 'Skip documents…' to save the rest",
                         first.file, first.line)


def _dataset_from_files(taxonomy_path: Path | None, files: dict[str, tuple[Path, str]], format: str, seed: int,
                        fractions, on_unknown: str, name: str, text_column: str) -> Dataset:
    """A dataset from given split files (``{"train": (path, shown name), "dev": …, "test": …}``)."""
    if taxonomy_path is None:
        raise HPTInputError("a taxonomy file is needed with given train/dev/test files")
    hierarchy = LabelHierarchy.read(taxonomy_path)
    splits, skipped = {}, []
    for split, (path, label) in files.items():
        dropped: list[HPTInputError] = []
        splits[split] = read_corpus(path, hierarchy, format, text_column=text_column, on_unknown=on_unknown,
                                    skipped=dropped)
        skipped += [{"file": label, "line": err.line, "problem": err.problem} for err in dropped]
    if "dev" not in files:  # draw dev from train, as import_corpus does for 20 Newsgroups
        parts = split_corpus(splits["train"], (1.0 - fractions[1], fractions[1], 0.0), seed)
        splits["train"], splits["dev"] = parts["train"], parts["dev"]
    order = {"train": 0, "dev": 1, "test": 2}
    splits = dict(sorted(splits.items(), key=lambda item: order[item[0]]))
    meta = {"source_format": format, "seed": seed, "skipped_documents": len(skipped), "skipped": skipped}
    return Dataset(hierarchy, splits, name, meta)


def _relabelled(err: HPTInputError, names: dict[str, str]) -> HPTInputError:
    """The same error with temp paths replaced by the names the user knows."""
    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        for path, label in sorted(names.items(), key=lambda item: -len(item[0])):
            text = text.replace(path, label)
        return text

    return HPTInputError(fix(err.problem) or err.problem, fix(err.file), err.line)


def _fresh_training(train):
    """The training settings a fresh retrain of a run with ``train`` (a ``TrainConfig``) uses: those
    of the first run of its warm-start chain — a quick round holds one epoch and a decayed rate, not
    what a fresh run from the pretrained backbone should train with — or, where the chain cannot be
    followed (a source deleted), the default recipe's epochs and schedule."""
    from hpt_core.predict import model_dir_of
    from hpt_core.recipes import DEFAULT_RECIPE, train_recipe

    seen = set()
    while train.init_from is not None and train.init_from not in seen:
        seen.add(train.init_from)
        try:
            folder = model_dir_of(train.init_from)
            run_dir = folder if (folder / runs.RUN_CONFIG).is_file() else folder.parent
            train = RunConfig.from_json(run_dir / runs.RUN_CONFIG).train
        except (HPTInputError, OSError, ValueError):
            recipe = train_recipe(DEFAULT_RECIPE)
            train = train.replace(epochs=recipe.epochs, schedule=recipe.schedule, warmup_ratio=recipe.warmup_ratio)
            break
    return train.replace(init_from=None, replay_documents=None, low_resource=None)
