"""A run's checkpoint: the last finished epoch's weights, optimiser and RNG state, and the loop's
counters — what a restart resumes from.

Saved every epoch by ``hpt_core.training`` into ``run_dir/checkpoint`` through one durable folder
swap (``hpt_core.durable``), so that a kill or a full disk mid-save leaves the previous epoch's
checkpoint to resume from."""

from __future__ import annotations

from pathlib import Path

import torch

from hpt_core import durable, runs
from hpt_core.errors import HPTInputError


def save_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer, state: dict) -> None:
    """Replace ``checkpoint/`` durably (:func:`hpt_core.durable.replace_folder`): a kill or a full disk
    mid-save leaves the previous epoch's checkpoint to resume from (a full disk: ``HPTInputError``)."""
    from safetensors.torch import save_model

    with durable.replace_folder(run_dir / runs.CHECKPOINT_DIR, "the checkpoint") as staging:
        save_model(model, str(staging / "model.safetensors"))
        # Through a Python file object: torch's own file writer reports a full disk without its errno.
        with open(staging / "optimizer.pt", "wb") as handle:
            torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}, handle)
        runs.atomic_write_json(staging / "state.json", state)


def load_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer) -> dict | None:
    """Restore ``checkpoint/`` into ``model`` and ``optimizer`` (and torch's RNG); returns the loop's
    saved counters, or None when the run has no checkpoint. A checkpoint of another model is refused
    in one line (``HPTInputError``)."""
    from safetensors.torch import load_model

    path = run_dir / runs.CHECKPOINT_DIR
    durable.recover(path)  # a save killed between its two renames left the last checkpoint as .checkpoint.old
    state = runs.read_json(path / "state.json")
    if state is None or not (path / "model.safetensors").is_file():
        return None
    try:
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
    except Exception as err:  # a damaged file or tensors of other shapes
        raise HPTInputError(f"checkpoint does not fit this run's model ({type(err).__name__}); "
                            "choose a new folder or delete checkpoint/", path) from None
    if missing or unexpected:
        raise HPTInputError(f"checkpoint does not fit this run's model (missing {sorted(missing)[:3]}, "
                            f"unexpected {sorted(unexpected)[:3]}); choose a new folder or delete checkpoint/", path)
    # weights_only: tensors and plain containers only, never arbitrary pickled objects.
    saved = torch.load(path / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    return state
