"""Warm start: a new training begins from an earlier run's model instead of the pretrained backbone
(``TrainConfig.init_from``, ``train --init-from``) — the retrain of the labelling loop (issue 23).

Why: after labelling fifty more documents, a practitioner wants the model they have, improved,
in minutes — not ten epochs from scratch. The earlier model already knows the tree (its label
words, graph layers and head); a few epochs on the grown training set adapt it. The lexical channel
and the classical blend are fitted again on the new data as in any training (they are cheap next
to the epochs, and must see the new labels).

What must match: the label tree (the weights are per label, in the tree's order) and the
architecture (method, backbone, graph layers, …). The weights are loaded strictly; anything that
does not fit is one clear error before training starts. A run that resumes from its own
checkpoint resumes from that, not from ``init_from``.
"""

from __future__ import annotations

import json
from pathlib import Path

from hpt_core.errors import HPTInputError

#: The app's warm-started retrain is a replay round (``hpt_core.replay``): one epoch over the
#: documents new to the model and a seeded sample of ``WARM_START_REPLAY`` of those it learnt from,
#: its learning rate warmed up over the first ``WARM_START_WARMUP`` of the steps and then decayed
#: linearly to 0. Measured on 20ng-LR + 50 new documents, alone (docs/benchmarks.md, session 17):
#: 2 min 32 s, dev macro-F1 84.43 -> 85.09, test 79.61 -> 80.76 — where three full epochs at the
#: recipe's constant rate took 9 min 39 s for 85.30 / 80.63, and one replay epoch at the constant
#: rate ended at 84.19 (the fresh optimiser's first full-size steps shake the trained model).
WARM_START_EPOCHS = 1
WARM_START_REPLAY = 500
WARM_START_SCHEDULE = "linear"
WARM_START_WARMUP = 0.1
#: A run trained before runs recorded their training texts (``replay.TRAINED_ON``) cannot tell which
#: documents are new: its warm start reads every document for at most this many epochs (sessions 15–16).
LEGACY_WARM_START_EPOCHS = 3


def load_initial_weights(model, source: str | Path) -> Path:
    """Load the weights of the model folder (or run folder) ``source`` into ``model`` (an
    ``HPTModel`` built for the new run); returns the model folder read. Raises ``HPTInputError``
    naming ``source`` when it is not a model of the same tree and architecture."""
    from safetensors.torch import load_model

    from hpt_core.model import tree_fingerprint
    from hpt_core.predict import model_dir_of

    folder = model_dir_of(source)
    try:
        saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise HPTInputError(f"--init-from: not a usable model folder ({type(err).__name__})", folder) from None
    if saved.get("tree_fingerprint") not in (None, tree_fingerprint(model.hierarchy)):
        raise HPTInputError("--init-from: that model was trained on another label tree; a warm start needs the "
                            "same tree (train fresh instead)", folder)
    try:
        missing, unexpected = load_model(model, str(folder / "model.safetensors"), strict=False)
    except Exception as err:  # tensors of other shapes: another backbone, method or tree size
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HPTInputError(f"--init-from: that model does not fit this run's model (another method or backbone? "
                            f"{first[:200]})", folder) from None
    if missing or unexpected:
        raise HPTInputError(f"--init-from: that model does not fit this run's model (another method or backbone: "
                            f"missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})", folder)
    return folder
