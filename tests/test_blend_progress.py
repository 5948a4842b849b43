"""The classical blend's finished parts kept across a kill (issue 22): a run killed inside the blend's
grid and started again with the same command does not embed again nor refit a finished path, and
ends with exactly the blend, the figures and the scores of a run never interrupted."""

import json

import numpy as np
import pytest

from hpt_core import blend as blend_module
from hpt_core.blend_progress import BLEND_FIT_DIR, BlendProgress

pytestmark = pytest.mark.slow


class Killed(BaseException):
    """What SIGKILL does to the process, as an exception nothing in the package catches."""


def _config(task_files, tiny_backbone):
    from hpt_core.config import DataSpec, RunConfig, TrainConfig
    from hpt_core.methods import resolve_method
    from hpt_core.recipes import pipeline_recipe

    # A weak model on a lexical task (as tests/test_blend.py): dev gives the classical part a share.
    return RunConfig(data=DataSpec(**{k: str(v) for k, v in task_files.items()}),
                     model=resolve_method("hpt", recipe="small-data", backbone=tiny_backbone, max_length=32),
                     train=TrainConfig(epochs=1, batch_size=8, lr=1e-6, new_params_lr=1e-6, seed=0),
                     pipeline=pipeline_recipe("small-data", lexical_channel=None))


def test_a_run_killed_inside_the_blends_grid_keeps_its_finished_parts(tmp_path, tiny_backbone, task_files, monkeypatch):
    from hpt_core.predict import Predictor
    from hpt_core.training import train

    config = _config(task_files, tiny_backbone)
    reference = train(config, tmp_path / "reference")
    assert not (tmp_path / "reference" / BLEND_FIT_DIR).exists()  # a completed run keeps nothing of the fit

    fits, embedded = [], []
    real_fit, real_embed = blend_module._fit_classifier, blend_module.embed_frozen
    n_c = len(blend_module.C_GRID)

    def fit_killed_in_the_second_path(*args, **kwargs):
        fits.append(1)
        if len(fits) == n_c + 2:  # the second embedding weight's second C
            raise Killed()
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(blend_module, "_fit_classifier", fit_killed_in_the_second_path)
    monkeypatch.setattr(blend_module, "embed_frozen",
                        lambda sentence, texts, *a, **k: embedded.append(len(texts)) or real_embed(sentence, texts, *a, **k))
    n_train = len(task_files["train"].read_text().splitlines())
    run = tmp_path / "run"
    with pytest.raises(Killed):
        train(config, run)
    assert n_train in embedded
    progress = json.loads((run / BLEND_FIT_DIR / "progress.json").read_text())
    assert progress["embeddings"] and list(progress["paths"]) == ["0"]

    fits.clear(), embedded.clear()
    monkeypatch.setattr(blend_module, "_fit_classifier", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    metrics = train(config, run)
    # the restart fitted only the paths not finished, and embedded no training text (test's, to score it)
    assert len(fits) == n_c * (len(blend_module.EMBEDDING_WEIGHTS) - 1) and n_train not in embedded
    for key in ("blend", "dev", "test", "decision"):
        assert metrics.get(key) is not None and _without_time(metrics[key]) == _without_time(reference[key]), key
    texts = ["goal striker penalty", "cell gene protein"]
    assert np.array_equal(Predictor.from_run(run).scores(texts), Predictor.from_run(tmp_path / "reference").scores(texts))
    assert not (run / BLEND_FIT_DIR).exists()


def test_parts_of_another_fit_are_cleared_and_a_damaged_part_is_computed_again(tmp_path):
    import torch

    progress = BlendProgress(tmp_path, "key-a")
    progress.keep_embeddings(np.ones((3, 4), np.float32), np.zeros((2, 4), np.float32))
    fit = (torch.ones(5, 2), torch.ones(4, 2), torch.zeros(2), 7)
    progress.keep_path(0, [0.5, 0.6], fit, fit)  # the path's first fit was its best: kept once
    progress.keep_path(1, [0.7, 0.1], (fit[0] * 2, fit[1], fit[2], 9), fit)
    again = BlendProgress(tmp_path, "key-a")
    train, dev = again.embeddings()
    assert train.shape == (3, 4) and dev.shape == (2, 4)
    figures, best, first = again.path(0)
    assert figures == [0.5, 0.6] and best[3] == 7 and torch.equal(best[0], fit[0]) and torch.equal(first[0], fit[0])
    figures, best, first = again.path(1)
    assert best[3] == 9 and torch.equal(best[0], fit[0] * 2) and first[3] == 7 and torch.equal(first[0], fit[0])
    assert again.path(2) is None

    (tmp_path / BLEND_FIT_DIR / "path_0.safetensors").write_bytes(b"half a file")
    assert BlendProgress(tmp_path, "key-a").path(0) is None  # unreadable: fitted again, never a crash

    assert BlendProgress(tmp_path, "key-b").embeddings() is None  # other data or settings: nothing reused
    assert not (tmp_path / BLEND_FIT_DIR).exists()


def _without_time(value):
    if isinstance(value, dict):
        return {k: _without_time(v) for k, v in value.items() if k != "seconds"}
    return value
