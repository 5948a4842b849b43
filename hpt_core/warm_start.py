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

#: Epochs of a warm-started retrain offered by the app (a few passes adapt a trained model).
WARM_START_EPOCHS = 3


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
