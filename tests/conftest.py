"""Shared fixtures: a tiny random BERT written to disk, and a small synthetic hierarchical task.

Nothing is downloaded: the backbone is ``BertForMaskedLM`` with a 2-layer, 32-wide random config
and a word-level vocabulary written to a temporary folder.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import pytest


# Property-based tests (tests/test_fuzz.py): "ci" is bounded and deterministic, the default;
# HYPOTHESIS_PROFILE=long searches much longer on a workstation.
try:
    from hypothesis import settings

    settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True, database=None,
                              print_blob=True)
    settings.register_profile("long", max_examples=2000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a dev requirement: only the fuzz tests need it
    pass

# The device queue is machine-wide (runs.lock_dir); tests queue only against each other.
os.environ.setdefault("HPT_LOCK_DIR", tempfile.mkdtemp(prefix="hpt-test-locks-"))

# An uneven tree: "arts" is a leaf at depth 1, "biology" at depth 2, the rest at depth 3.
TAXONOMY = [
    ("Root", ["sports", "science", "arts"]),
    ("sports", ["football", "tennis"]),
    ("science", ["physics", "biology"]),
    ("physics", ["quantum", "optics"]),
]
KEYWORDS = {
    "football": ["goal", "striker", "pitch", "penalty"],
    "tennis": ["racket", "serve", "court", "volley"],
    "quantum": ["qubit", "entanglement", "spin", "superposition"],
    "optics": ["lens", "laser", "mirror", "photon"],
    "biology": ["cell", "gene", "protein", "enzyme"],
    "arts": ["painting", "canvas", "sculpture", "gallery"],
}
PATHS = {
    "football": ["sports", "football"], "tennis": ["sports", "tennis"],
    "quantum": ["science", "physics", "quantum"], "optics": ["science", "physics", "optics"],
    "biology": ["science", "biology"], "arts": ["arts"],
}
FILLER = ["we", "saw", "a", "report", "on", "it", "today", "and", "then", "some", "more", "news", "about", "this"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocabulary() -> list[str]:
    words = set(FILLER) | {w for ws in KEYWORDS.values() for w in ws}
    words |= {part for labels in PATHS.values() for label in labels for part in label.split()}
    words |= {"the", "text", "is"}
    return SPECIAL + sorted(words)


def make_docs(n_per_leaf: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for leaf, words in KEYWORDS.items():
        for _ in range(n_per_leaf):
            tokens = rng.sample(words, 3) + rng.sample(FILLER, 2)
            rng.shuffle(tokens)
            docs.append({"text": " ".join(tokens), "labels": PATHS[leaf]})
    rng.shuffle(docs)
    return docs


def make_multi_path_docs(n_per_pair: int, seed: int) -> list[dict]:
    """Documents of two leaves at once (the keywords of both, the labels of both paths), beside
    single-path ones: a multi-path corpus like RCV1's, NYT's or Amazon-531's."""
    rng = random.Random(seed)
    leaves = list(KEYWORDS)
    docs = make_docs(max(1, n_per_pair // 2), seed)
    for i, first in enumerate(leaves):
        second = leaves[(i + 2) % len(leaves)]  # a leaf of another branch
        for _ in range(n_per_pair):
            tokens = rng.sample(KEYWORDS[first], 2) + rng.sample(KEYWORDS[second], 2) + rng.sample(FILLER, 1)
            rng.shuffle(tokens)
            docs.append({"text": " ".join(tokens), "labels": list(dict.fromkeys(PATHS[first] + PATHS[second]))})
    rng.shuffle(docs)
    return docs


def write_multi_path_task(directory: Path, n_train: int = 12, n_dev: int = 4) -> dict[str, Path]:
    """``write_task``'s tree with a multi-path corpus (``make_multi_path_docs``)."""
    files = write_task(directory, n_train, n_dev)
    for split, n, seed in (("train", n_train, 1), ("dev", n_dev, 2), ("test", n_dev, 3)):
        files[split].write_text("".join(json.dumps(d) + "\n" for d in make_multi_path_docs(n, seed)), encoding="utf-8")
    return files


def write_task(directory: Path, n_train: int = 12, n_dev: int = 4) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    taxonomy = directory / "taxonomy.tsv"
    taxonomy.write_text("".join("\t".join([p, *cs]) + "\n" for p, cs in TAXONOMY), encoding="utf-8")
    files = {"taxonomy": taxonomy}
    for split, n, seed in (("train", n_train, 1), ("dev", n_dev, 2), ("test", n_dev, 3)):
        path = directory / f"{split}.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in make_docs(n, seed)), encoding="utf-8")
        files[split] = path
    return files


def write_tiny_backbone(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary()) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(vocab_file), do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocabulary()), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    BertForMaskedLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> str:
    return str(write_tiny_backbone(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture(scope="session")
def task_files(tmp_path_factory) -> dict[str, Path]:
    return write_task(tmp_path_factory.mktemp("task"))


@pytest.fixture(scope="session")
def multi_path_task_files(tmp_path_factory) -> dict[str, Path]:
    return write_multi_path_task(tmp_path_factory.mktemp("multi-path-task"))


@pytest.fixture(scope="session")
def hierarchy(task_files):
    from hpt_core.hierarchy import LabelHierarchy

    return LabelHierarchy.read(task_files["taxonomy"])


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_backbone, task_files) -> Path:
    """A tiny HPT run trained once per session; feeds prediction, evaluation, CLI and app tests."""
    from hpt_core.config import DataSpec, RunConfig, TrainConfig
    from hpt_core.methods import resolve_method
    from hpt_core.training import train

    run_dir = tmp_path_factory.mktemp("runs") / "tiny-hpt"
    config = RunConfig(
        data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
        model=resolve_method("hpt", backbone=tiny_backbone, max_length=32),
        train=TrainConfig(epochs=12, batch_size=8, lr=3e-3, seed=0, patience=12, log_every=2),
        name="tiny-hpt",
    )
    train(config, run_dir)
    return run_dir


def write_big_task(directory: Path, labels: int = 5000, n_train: int = 32, n_eval: int = 8) -> dict[str, Path]:
    """A generated ``labels``-label, depth-4 taxonomy with a few documents per split (one random leaf each)."""
    from helpers import big_taxonomy
    from hpt_core.hierarchy import LabelHierarchy

    directory.mkdir(parents=True, exist_ok=True)
    files = {"taxonomy": big_taxonomy(directory / "taxonomy.tsv", labels=labels)}
    leaves = LabelHierarchy.read(files["taxonomy"]).labels_at_depth(4)
    rng = random.Random(0)
    words = FILLER + [w for ws in KEYWORDS.values() for w in ws]
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        path = directory / f"{split}.jsonl"
        path.write_text("".join(json.dumps({"text": " ".join(rng.sample(words, 6)), "labels": [rng.choice(leaves)]})
                                + "\n" for _ in range(n)), encoding="utf-8")
        files[split] = path
    return files


@pytest.fixture(scope="session")
def big_task_files(tmp_path_factory) -> dict[str, Path]:
    return write_big_task(tmp_path_factory.mktemp("big-task"))


@pytest.fixture(scope="session")
def big_trained_run(tmp_path_factory, tiny_backbone, big_task_files) -> Path:
    """Two training steps of a tiny HPT on the 5,000-label tree (about a minute): the app's large-tree views."""
    from hpt_core.config import DataSpec, RunConfig, TrainConfig
    from hpt_core.methods import resolve_method
    from hpt_core.training import train

    run_dir = tmp_path_factory.mktemp("big-runs") / "big-hpt"
    config = RunConfig(data=DataSpec(**{k: str(v) for k, v in big_task_files.items()}),
                       model=resolve_method("hpt", backbone=tiny_backbone, max_length=32),
                       train=TrainConfig(epochs=1, batch_size=8, max_steps=2, log_every=1), name="big-hpt")
    train(config, run_dir)
    return run_dir
