"""A replay round: a warm-started run trains on the documents its model never saw and a seeded
sample of those it did (``TrainConfig.replay_documents``, ``train --replay N``) — the labelling
loop's quick retrain (issue 23).

Why: after fifty more labels, a warm start that reads every training document three times spends
nearly all of its time on what the model has learnt already (9 min 39 s on 20ng-LR + 50 documents,
``docs/benchmarks.md``). What the model needs is the new documents; a sample of the old ones, read
beside them, keeps it from forgetting the rest of the tree (rehearsal, as in continual learning).
The lexical channel and the classical blend still fit on every training document (up to
``fit_documents``): they are cheap next to the epochs, and they must see the new labels.

Which documents are new: each run writes the fingerprints of its training documents (text and
labels: a corrected label makes a document new) to ``trained_on.json`` in its run folder when
training first starts; a warm start reads its source run's. A source without that file (runs
trained before it) is read from its ``run.json``'s training file, unless that file may have changed
since the run started.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from hpt_core.errors import HPTInputError

#: The run folder's record of which texts it trained on (fingerprints, not texts).
TRAINED_ON = "trained_on.json"


def fingerprint(text: str, labels=()) -> str:
    """A short, stable fingerprint of a training document: its text (whitespace at its ends
    ignored) and its labels, so that a document relabelled since (``Workspace.relabel``) reads as
    new to a model that learnt it with its old labels."""
    key = text.strip() + "\x1f" + "\x1f".join(sorted(labels))
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def document_fingerprints(docs) -> list[str]:
    """:func:`fingerprint` of each document (anything with ``text`` and ``labels``)."""
    return [fingerprint(d.text, d.labels) for d in docs]


def write_trained_on(run_dir: str | Path, docs) -> None:
    """Record which documents the run in ``run_dir`` trains on (sorted fingerprints; atomic write).
    Written once, when the run starts: a resumed run keeps the record of its first start, when its
    documents were read (a workspace dataset may have been labelled since)."""
    from hpt_core import runs

    record = Path(run_dir) / TRAINED_ON
    if not record.exists():
        runs.atomic_write_json(record, {"fingerprints": sorted(set(document_fingerprints(docs)))})


def trained_on(source: str | Path) -> set[str]:
    """The fingerprints (:func:`fingerprint`) of the documents the model at ``source`` (a run
    folder or its model folder) was trained on. Raises ``HPTInputError`` when that cannot be known (a model folder outside any
    run folder, a run whose training file is gone)."""
    from hpt_core.config import RunConfig
    from hpt_core.predict import model_dir_of
    from hpt_core.run_data import load_run_data
    from hpt_core import runs

    folder = model_dir_of(source)
    run_dir = folder if (folder / runs.RUN_CONFIG).is_file() else folder.parent
    record = run_dir / TRAINED_ON
    if record.is_file():
        try:
            return set(json.loads(record.read_text(encoding="utf-8"))["fingerprints"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise HPTInputError(f"--replay: unreadable record of the texts it trained on ({type(err).__name__})",
                                record) from None
    if not (run_dir / runs.RUN_CONFIG).is_file():
        raise HPTInputError("--replay: which documents this model was trained on is not known (no trained_on.json "
                            "or run.json beside it); warm-start without --replay", folder)
    config = RunConfig.from_json(run_dir / runs.RUN_CONFIG)
    started = runs.run_status(run_dir).get("started")
    try:  # when the run started is unknown, so is whether the file changed since
        changed = started is None or Path(config.data.train).stat().st_mtime > float(started)
    except OSError:
        changed = False  # a missing file is reported below
    if changed:  # a workspace dataset labelled since: its new documents would read as seen
        raise HPTInputError("--replay: the training file may have changed since that run trained, so which documents are "
                            "new to its model is not known (runs record it since session 17); warm-start without "
                            "--replay", config.data.train)
    try:  # a run trained before trained_on.json: its training file as run.json names it
        _, train_docs, _, _ = load_run_data(config)
    except (OSError, HPTInputError) as err:
        raise HPTInputError(f"--replay: the training file of the run it starts from cannot be read ({err})",
                            run_dir) from None
    return set(document_fingerprints(train_docs))


def replay_selection(docs, seen: set[str], replay: int, seed: int) -> tuple[list[int], int]:
    """Which training documents a replay round's epochs read: every document whose fingerprint is
    not in ``seen`` (new, or relabelled since) and a seeded sample of at most ``replay`` of the others.

    Returns (their positions in ``docs``, ascending; how many of them are new).
    """
    prints = document_fingerprints(docs)
    new = [i for i, p in enumerate(prints) if p not in seen]
    old = [i for i, p in enumerate(prints) if p in seen]
    if replay < len(old):
        old = sorted(np.random.default_rng(seed).choice(old, size=replay, replace=False).tolist())
    return sorted(new + old), len(new)
