"""Is a text like the texts the model learnt from? A warning for texts far from every training text.

Why: a classifier answers every text with its best guess, and its confidence does not say when the
text is about something else. On the WOS model a cake recipe read a calibrated confidence of 0.497
against a real abstract's 0.208, and the share of known words did not separate it either (69 %,
against 72 % for the least covered dev abstract): ``hpt_core.unfamiliar`` only catches texts of
unknown words.

What separates them, measured on three corpora with one setting (``benchmarks/familiarity_probe.py``,
docs/benchmarks.md): the mean cosine similarity of a text to its ``K`` most similar training
documents in the frozen pretrained encoder's sentence space — the encoder the classical blend
embeds with, so the training side is already computed when the blend is fitted and a kept blend's
encoder pass is shared when predicting. The threshold is the ``QUANTILE`` of dev's own
similarities: dev documents are new to the model as a user's are, so about that share of texts
like the corpus's is flagged (on test: 0.5 % WOS, 2.2 % 20ng-LR, 1.6 % Amazon-531), while a cake
recipe, a phone review, a football report and a chat message were flagged on each corpus they do
not belong to.

Saved beside the model (``familiarity.json``, ``familiarity.safetensors``: at most
``MAX_REFERENCE`` training embeddings in float16, a seeded sample above). Its encoder is the
blend's when the blend is kept (``"encoder": "blend"``), else its own copy
(``familiarity_encoder.safetensors``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hpt_core.errors import HPTInputError
from hpt_core.linear_fit import document_sample

FAMILIARITY_CONFIG = "familiarity.json"
FAMILIARITY_WEIGHTS = "familiarity.safetensors"
FAMILIARITY_ENCODER = "familiarity_encoder.safetensors"
#: Neighbours averaged: one near-duplicate training text does not make a text familiar.
K = 5
#: Share of dev documents below the threshold (chosen on dev of three corpora, never per corpus).
QUANTILE = 0.01
#: Training embeddings kept (a seeded sample above): 4,000 × 384 float16 is 3 MB, and a text's
#: search is one (4,000 × 384) product.
MAX_REFERENCE = 4000


def normalised(embedded: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length: (N, d) -> (N, d) float32."""
    embedded = np.asarray(embedded, dtype=np.float32)
    return embedded / np.maximum(np.linalg.norm(embedded, axis=1, keepdims=True), 1e-12)


def nearest_similarity(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine similarity of each query to its ``k`` most similar reference rows.

    queries (N, d), reference (R, d), both unit rows -> (N,) float32

    >>> reference = np.eye(3, dtype=np.float32)
    >>> nearest_similarity(np.array([[1.0, 0.0, 0.0]], dtype=np.float32), reference, 2).tolist()
    [0.5]
    """
    if len(queries) == 0:
        return np.zeros(0, dtype=np.float32)
    k = max(1, min(k, reference.shape[0]))
    similarities = queries @ reference.T  # (N, R)
    return np.partition(similarities, -k, axis=1)[:, -k:].mean(axis=1).astype(np.float32)


@dataclass
class Familiarity:
    """Training texts in the frozen encoder's space, and the similarity below which a text is unlike
    them.

    ``reference`` (R, d) unit rows; ``threshold``: the ``quantile`` of dev's similarities;
    ``dev``: what chose it (documents, median); ``sentence``: the frozen encoder that embeds a text
    (``hpt_core.sentence.FrozenSentenceEncoder``), shared with the blend when it is kept.
    """

    reference: np.ndarray
    threshold: float
    k: int = K
    quantile: float = QUANTILE
    dev: dict = field(default_factory=dict)
    sentence: object = None

    @classmethod
    def fit(cls, train_embedded: np.ndarray, dev_embedded: np.ndarray, sentence=None, seed: int = 0,
            k: int = K, quantile: float = QUANTILE, max_reference: int = MAX_REFERENCE) -> "Familiarity | None":
        """From the training texts' embeddings (N, d) and dev's (M, d); ``None`` without both."""
        if len(train_embedded) == 0 or len(dev_embedded) == 0:
            return None
        reference = normalised(train_embedded)
        keep = document_sample(len(reference), max_reference, seed)
        if keep is not None:
            reference = reference[keep]
        reference = reference.astype(np.float16).astype(np.float32)  # as saved: the threshold is of what is kept
        dev_similarity = nearest_similarity(normalised(dev_embedded), reference, k)
        return cls(reference=reference, threshold=float(np.quantile(dev_similarity, quantile)), k=k, quantile=quantile,
                   dev={"documents": int(len(dev_embedded)), "median": round(float(np.median(dev_similarity)), 4),
                        "reference_documents": int(len(reference)), "train_documents": int(len(train_embedded))},
                   sentence=sentence)

    def similarity(self, embedded: np.ndarray) -> np.ndarray:
        """Each text's mean similarity to its ``k`` nearest training texts: (N, d) -> (N,)."""
        return nearest_similarity(normalised(embedded), self.reference, self.k)

    def warning(self, similarity: float | None) -> str | None:
        """The warning for a text of this ``similarity``, or ``None`` when it is like the training texts."""
        if similarity is None or similarity >= self.threshold:
            return None
        return (f"unlike the texts the model learnt from (similarity {similarity:.2f} to the closest training texts, "
                f"below {100 * (1 - self.quantile):.0f} % of dev's, {self.threshold:.2f}): the prediction may mean little")

    def summary(self) -> dict:
        return {"k": self.k, "quantile": self.quantile, "threshold": round(self.threshold, 4), **self.dev}

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path, encoder_shared: bool) -> None:
        """Write the reference and settings; the encoder too unless it is the kept blend's."""
        from safetensors.torch import save_file

        directory = Path(directory)
        save_file({"reference": torch.from_numpy(self.reference.astype(np.float16))}, str(directory / FAMILIARITY_WEIGHTS))
        if not encoder_shared:
            self.sentence.save(directory, FAMILIARITY_ENCODER)
        meta = {**self.summary(), "threshold": self.threshold, "encoder": "blend" if encoder_shared else "own",
                "sentence_max_length": self.sentence.max_length}
        (directory / FAMILIARITY_CONFIG).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, backbone_config: dict, tokenizer, blend_sentence=None) -> "Familiarity":
        """The familiarity saved in ``directory``; ``blend_sentence``: the kept blend's encoder, which a
        familiarity saved with ``"encoder": "blend"`` uses."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from hpt_core.sentence import FrozenSentenceEncoder

        directory = Path(directory)
        try:
            meta = json.loads((directory / FAMILIARITY_CONFIG).read_text(encoding="utf-8"))
            reference = load_file(str(directory / FAMILIARITY_WEIGHTS))["reference"].float().numpy()
            if meta["encoder"] == "blend":
                if blend_sentence is None:
                    raise ValueError("it shares the classical blend's encoder, and the folder has no blend")
                sentence = blend_sentence
            else:
                sentence = FrozenSentenceEncoder.load(directory, backbone_config, tokenizer, int(meta["sentence_max_length"]),
                                                      FAMILIARITY_ENCODER)
            if reference.ndim != 2 or reference.shape[1] != sentence.width:
                raise ValueError(f"reference of shape {list(reference.shape)} for a {sentence.width}-d encoder")
            dev = {key: meta[key] for key in ("documents", "median", "reference_documents", "train_documents") if key in meta}
            return cls(reference=reference, threshold=float(meta["threshold"]), k=int(meta["k"]),
                       quantile=float(meta["quantile"]), dev=dev, sentence=sentence)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, SafetensorError, RuntimeError, OSError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise HPTInputError(f"not a usable model folder: broken familiarity check ({type(err).__name__}: {first})",
                                directory) from None
