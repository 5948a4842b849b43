"""Durable folder writes: a kill between the swap's renames, a full disk or a read-only folder in the
middle of a save always leaves a loadable model folder and checkpoint."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from hpt_core import durable, runs
from hpt_core.errors import HPTInputError
from hpt_core.methods import resolve_method
from hpt_core.model import HPTModel, build_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def model(tiny_backbone, hierarchy):
    torch.manual_seed(0)
    return build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32), hierarchy)


def _weights(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_weights(model, weights: dict) -> bool:
    return all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def _changed(model):
    with torch.no_grad():
        model.label_words.add_(1.0)
    return model


def _killed_between_the_renames(target: Path) -> None:
    """Save ``target`` in a child process that SIGKILLs itself right after the first rename of the swap
    (the previous copy moved aside, the new one not yet in place): no clean-up code runs."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from hpt_core import durable

        real_rename = os.rename
        def rename(src, dst):
            real_rename(src, dst)
            if Path(dst).name == ".{target.name}.old":
                os.kill(os.getpid(), signal.SIGKILL)
        durable.os.rename = rename
        with durable.replace_folder({str(target)!r}, "the folder") as staging:
            (staging / "version").write_text("new")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr


def test_a_kill_between_the_swaps_renames_leaves_the_previous_copy_to_recover(tmp_path, caplog):
    target = tmp_path / "folder"
    with durable.replace_folder(target, "the folder") as staging:
        (staging / "version").write_text("old")
    _killed_between_the_renames(target)
    assert not target.exists() and (tmp_path / ".folder.old" / "version").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".folder.staging-")]  # the new copy, unrenamed
    with caplog.at_level(logging.INFO, logger="hpt_core"):
        durable.recover(target)
    assert (target / "version").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    assert "recovered" in caplog.text and "removed" in caplog.text


def test_a_save_after_a_kill_keeps_the_previous_copy_until_the_new_one_is_in_place(tmp_path):
    target = tmp_path / "folder"
    with durable.replace_folder(target, "the folder") as staging:
        (staging / "version").write_text("old")
    _killed_between_the_renames(target)
    with pytest.raises(RuntimeError):  # a save that fails before its swap
        with durable.replace_folder(target, "the folder") as staging:
            raise RuntimeError("stop")
    assert (target / "version").read_text() == "old"  # the copy left aside by the kill, not deleted
    with durable.replace_folder(target, "the folder") as staging:
        (staging / "version").write_text("newer")
    assert (target / "version").read_text() == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_recover_creates_nothing_where_nothing_was_left(tmp_path):
    durable.recover(tmp_path / "missing" / "model")
    durable.recover(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_the_errno_is_found_in_the_exceptions_torch_and_safetensors_raise():
    from safetensors import SafetensorError

    assert durable.error_number(SafetensorError("Error while serializing: I/O error: No space left on device "
                                                "(os error 28)")) == errno.ENOSPC
    try:
        try:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
        except RuntimeError:
            raise OSError(errno.ENOSPC, "No space left on device")
    except OSError as err:
        assert durable.error_number(err) == errno.ENOSPC
    assert durable.error_number(ValueError("x")) is None


# ---- the model folder -------------------------------------------------------------------------------------
def test_a_model_folder_caught_between_the_renames_loads_again(model, tmp_path, caplog):
    folder = model.save_pretrained(tmp_path / "run" / "model")
    weights = _weights(model)
    # What a kill between the two renames leaves: the previous folder aside, a half-written new one.
    folder.rename(tmp_path / "run" / ".model.old")
    (tmp_path / "run" / ".model.staging-x1y2z3").mkdir()
    (tmp_path / "run" / ".model.staging-x1y2z3" / "config.json").write_text("{")
    with caplog.at_level(logging.INFO, logger="hpt_core"):
        loaded = HPTModel.from_pretrained(folder)
    assert _same_weights(loaded, weights)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["model"]
    assert "recovered" in caplog.text


@pytest.mark.parametrize("where, code, reason", [
    ("weights", errno.ENOSPC, "no space left on device"),
    ("hierarchy", errno.EACCES, "permission denied"),
    ("swap", errno.EROFS, "read-only file system"),
])
def test_a_model_save_that_fails_for_space_or_permission_keeps_the_previous_folder(
        model, tmp_path, monkeypatch, where, code, reason):
    folder = model.save_pretrained(tmp_path / "run" / "model")
    weights = _weights(model)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if where == "weights":
        monkeypatch.setattr("hpt_core.model.save_model", fail)
    elif where == "hierarchy":
        monkeypatch.setattr(type(model.hierarchy), "to_json", fail)
    else:  # the previous folder is already aside when the new one cannot be renamed in
        real_rename = os.rename

        def rename(src, dst):
            if Path(src).name.startswith(".model.staging-"):
                fail()
            real_rename(src, dst)

        monkeypatch.setattr(durable.os, "rename", rename)
    with pytest.raises(HPTInputError) as raised:
        _changed(model).save_pretrained(folder)
    monkeypatch.undo()
    message = str(raised.value)
    assert message.startswith(f"{folder}: {reason} while saving the model folder; the previous copy is kept")
    assert message.endswith("run the same command again") and len(message.splitlines()) == 1
    assert _same_weights(HPTModel.from_pretrained(folder), weights)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["model"]  # no staging folder left


# ---- the checkpoint ---------------------------------------------------------------------------------------
def _checkpoint_parts(model):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return optimizer, {"epoch": 3, "step": 12, "best_macro_f1": 0.5, "best_epoch": 2, "bad_epochs": 1}


def test_a_checkpoint_caught_between_the_renames_resumes(model, tmp_path, caplog):
    from hpt_core.checkpoints import load_checkpoint, save_checkpoint

    optimizer, state = _checkpoint_parts(model)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_checkpoint(run_dir, model, optimizer, state)
    (run_dir / runs.CHECKPOINT_DIR).rename(run_dir / ".checkpoint.old")
    with caplog.at_level(logging.INFO, logger="hpt_core"):
        resumed = load_checkpoint(run_dir, model, optimizer)
    assert resumed == state
    assert "recovered" in caplog.text


def test_a_checkpoint_save_on_a_full_disk_keeps_the_previous_checkpoint(model, tmp_path, monkeypatch):
    from hpt_core.checkpoints import load_checkpoint, save_checkpoint

    optimizer, state = _checkpoint_parts(model)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_checkpoint(run_dir, model, optimizer, state)
    weights = _weights(model)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(HPTInputError, match="no space left on device while saving the checkpoint"):
        save_checkpoint(run_dir, _changed(model), optimizer, {**state, "epoch": 4})
    monkeypatch.undo()
    assert sorted(p.name for p in run_dir.iterdir()) == [runs.CHECKPOINT_DIR]
    assert load_checkpoint(run_dir, model, optimizer) == state and _same_weights(model, weights)
