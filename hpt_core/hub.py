"""Model folders by Hugging Face Hub name: ``Predictor.from_pretrained("owner/name")``, ``predict``
and ``serve --run-dir owner/name`` load a model folder someone pushed to the Hub (or that is already
in the local Hugging Face cache), as transformers users expect.

Why ``huggingface_hub``: it owns the cache layout, revisions, offline mode (``HF_HUB_OFFLINE=1``)
and authentication; writing any of that again would be worse. The local cache is tried first, so a
model downloaded once loads without a network.
"""

from __future__ import annotations

import re
from pathlib import Path

from hpt_core.errors import HPTInputError

#: ``owner/name``: what a Hub repository id looks like (and a local path that does not exist may).
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_hub_id(name: str) -> bool:
    return bool(HUB_ID.match(str(name))) and ".." not in str(name)


def hub_model_folder(repo_id: str, revision: str | None = None) -> Path:
    """The local folder of the Hub model ``repo_id``: from the local Hugging Face cache, else
    downloaded (unless ``HF_HUB_OFFLINE`` is set). A failure is one clear ``HPTInputError``."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:  # pragma: no cover — a dependency of transformers
        raise HPTInputError(f"loading {repo_id!r} by name needs huggingface_hub ({err})") from None
    try:
        return Path(snapshot_download(repo_id=repo_id, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 — not in the cache (or a broken entry): ask the Hub
        pass
    try:
        return Path(snapshot_download(repo_id=repo_id, revision=revision))
    except Exception as err:  # noqa: BLE001 — offline, unknown repository, no access: one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HPTInputError(f"no local folder {repo_id!r}, and the Hugging Face Hub model of that name could not be "
                            f"loaded ({type(err).__name__}: {first})") from None
