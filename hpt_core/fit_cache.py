"""The lexical channel's finished fit, kept in its run folder (``lexical_fit/``) until the run
completes, so that a run killed after it — during training, a checkpoint or the blend — and
started again with the same command loads it instead of fitting it again (minutes on real-size
corpora: issue 22), and trains on exactly the same out-of-fold scores.

What is kept: the channel (``LexicalChannel.save``), its out-of-fold training scores (N, C) and its
dev scores (M, C) (``scores.safetensors``), and ``fit.json``: a fingerprint of what the fit read —
the training and dev texts and labels, the tree, and the settings that change the fit (channel
kind, seed, fitting sample). A folder whose fingerprint differs (other data or settings in a reused
folder) is ignored and fitted again. Written durably (``hpt_core.durable``): a kill mid-save leaves
no half-written folder to load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

FIT_DIR = "lexical_fit"
FIT_INFO = "fit.json"
SCORES = "scores.safetensors"


def fingerprint(train_docs, dev_docs, hierarchy, settings: dict) -> str:
    """A SHA-256 over the documents' texts and labels (train, then dev), the tree's labels and
    parents, and ``settings`` (JSON-serialisable): equal exactly when the fit would be."""
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(json.dumps([list(hierarchy.labels), list(hierarchy.parent_index)]).encode())
    for split in (train_docs, dev_docs):
        digest.update(b"\x00split")
        for doc in split:
            digest.update(doc.text.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00" + "\x1f".join(doc.labels).encode() + b"\x00")
    return digest.hexdigest()


def save(run_dir: str | Path, channel, out_of_fold: torch.Tensor, dev_scores: torch.Tensor, key: str,
         seconds: float | None = None) -> None:
    """Keep a finished fit (and how long it took) in ``run_dir/lexical_fit``, durably."""
    from safetensors.torch import save_file

    from hpt_core import durable

    with durable.replace_folder(Path(run_dir) / FIT_DIR, "the lexical channel's fit") as staging:
        channel.save(staging)
        save_file({"out_of_fold": out_of_fold.float().contiguous(), "dev": dev_scores.float().contiguous()},
                  str(staging / SCORES))
        (staging / FIT_INFO).write_text(json.dumps({"fingerprint": key, "documents": int(out_of_fold.shape[0]),
                                                    "seconds": seconds}),
                                        encoding="utf-8")


def load(run_dir: str | Path, key: str, n_labels: int, dev_texts: list[str], backbone_config: dict | None = None,
         tokenizer=None):
    """``(channel, out-of-fold scores (N, C), the fit's seconds)`` of the fit kept in ``run_dir`` when
    its fingerprint is ``key``, the channel remembering its dev scores for ``dev_texts``; else
    ``None`` (nothing kept, another fit's, or unreadable: fitted again)."""
    from safetensors.torch import load_file

    from hpt_core import durable
    from hpt_core.errors import HPTInputError
    from hpt_core.lexical import LexicalChannel

    folder = Path(run_dir) / FIT_DIR
    durable.recover(folder)
    try:
        info = json.loads((folder / FIT_INFO).read_text(encoding="utf-8"))
        if info.get("fingerprint") != key:
            return None
        channel = LexicalChannel.load(folder, n_labels, backbone_config, tokenizer)
        scores = load_file(str(folder / SCORES))
    except (OSError, ValueError, KeyError, HPTInputError):
        return None
    if scores["dev"].shape != (len(dev_texts), n_labels) or scores["out_of_fold"].shape[1:] != (n_labels,):
        return None
    channel.remember(dev_texts, scores["dev"])
    return channel, scores["out_of_fold"], info.get("seconds")


def discard(run_dir: str | Path) -> None:
    """Remove a kept fit (the run is complete: its model folder holds the channel)."""
    import shutil

    shutil.rmtree(Path(run_dir) / FIT_DIR, ignore_errors=True)
