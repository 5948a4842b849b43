"""The classical blend's finished parts, kept in its run folder (``blend_fit/``) until the run
completes, so that a run killed inside the blend's grid and started again with the same command
does not redo them (issue 22): the frozen encoder's embeddings of the training and dev texts (on
a large corpus the longest part: one encoder pass over every training text) and each embedding
weight's finished path over C (three L-BFGS fits).

What is kept, each file written whole or not at all (``durable.write_bytes``): ``embeddings.safetensors``,
``path_<k>.safetensors`` (the path's best fit and its first, the next path's start) and
``progress.json``: a fingerprint of what the fit reads (the documents, the tree, the settings, as
``fit_cache.fingerprint``) and the parts kept with their dev figures. A folder of another
fingerprint is cleared and fitted again. The fits are deterministic on a device, so a restored
part is what fitting it again would give: the blend, its choice and every figure after it are
those of a run never interrupted (``tests/test_blend_progress.py``).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from hpt_core import durable

logger = logging.getLogger("hpt_core.training")
BLEND_FIT_DIR = "blend_fit"
PROGRESS = "progress.json"
EMBEDDINGS = "embeddings.safetensors"
_FIT_PARTS = ("weight", "dense_weight", "bias")


class BlendProgress:
    """The kept parts of one blend fit, identified by ``key`` (a fingerprint), in ``run_dir/blend_fit``.

    ``fit_classical_blend(keep=...)`` asks for each part before computing it and keeps it after.
    A part that cannot be kept (a full disk) is logged: the fit goes on, a restart computes it again.
    """

    def __init__(self, run_dir: str | Path, key: str) -> None:
        self.folder = Path(run_dir) / BLEND_FIT_DIR
        self.key = key
        self._info = self._read_info()

    def _read_info(self) -> dict:
        try:
            info = json.loads((self.folder / PROGRESS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) and info.get("fingerprint") == self.key:
            return info
        if self.folder.exists():  # another fit's parts (other data or settings in a reused folder)
            shutil.rmtree(self.folder, ignore_errors=True)
        return {"fingerprint": self.key, "paths": {}}

    def _load(self, name: str) -> dict | None:
        from safetensors.torch import load_file

        try:
            return load_file(str(self.folder / name))
        except Exception:  # noqa: BLE001 — a damaged part (safetensors' own error, an OSError): computed again
            return None

    def _keep(self, name: str, tensors: dict[str, torch.Tensor], update) -> None:
        from safetensors.torch import save

        try:
            durable.write_bytes(self.folder / name, save(_unshared(tensors)))
            update(self._info)
            durable.write_file(self.folder / PROGRESS, json.dumps(self._info))
        except Exception as err:  # noqa: BLE001 — keeping is a convenience: it must never fail the fit
            logger.warning("a finished part of the classical blend's fit was not kept for a restart: %s", err)

    def embeddings(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The kept frozen-encoder embeddings (train (N, d), dev (M, d)), or None."""
        if not self._info.get("embeddings"):
            return None
        tensors = self._load(EMBEDDINGS)
        if tensors is None or set(tensors) != {"train", "dev"}:
            return None
        return tensors["train"].numpy(), tensors["dev"].numpy()

    def keep_embeddings(self, train: np.ndarray, dev: np.ndarray) -> None:
        self._keep(EMBEDDINGS, {"train": torch.from_numpy(train), "dev": torch.from_numpy(dev)},
                   lambda info: info.update(embeddings=True))

    def path(self, k: int) -> tuple[list[float], tuple, tuple] | None:
        """The ``k``-th embedding weight's kept path: (dev macro-F1 at each C, the best fit, the
        first fit), each fit ``(weight, dense_weight, bias, iterations)``; or None."""
        entry = self._info["paths"].get(str(k))
        tensors = None if entry is None else self._load(f"path_{k}.safetensors")
        if tensors is None:
            return None
        try:
            best, first = ((*(tensors[f"{which}.{part}"] for part in _FIT_PARTS), entry[f"{which}_iterations"])
                           for which in ("best", "best" if entry.get("first_is_best") else "first"))
        except KeyError:
            return None
        return list(entry["figures"]), best, first

    def keep_path(self, k: int, figures: list[float], best: tuple, first: tuple) -> None:
        fits = (("best", best),) if first is best else (("best", best), ("first", first))
        tensors = {f"{which}.{part}": value for which, fit in fits for part, value in zip(_FIT_PARTS, fit[:3])}
        entry = {"figures": [float(f) for f in figures], "best_iterations": int(best[3]),
                 "first_iterations": int(first[3]), "first_is_best": first is best}
        self._keep(f"path_{k}.safetensors", tensors, lambda info: info["paths"].update({str(k): entry}))


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors on the CPU, contiguous, none sharing memory with another (safetensors refuses
    shared storage: two parts of a fit may be one tensor)."""
    out, seen = {}, set()
    for name, value in tensors.items():
        value = value.detach().cpu().contiguous()
        if value.data_ptr() in seen:
            value = value.clone()
        seen.add(value.data_ptr())
        out[name] = value
    return out


def discard(run_dir: str | Path) -> None:
    """Remove the kept parts (the run is complete: its model folder holds the blend)."""
    shutil.rmtree(Path(run_dir) / BLEND_FIT_DIR, ignore_errors=True)
