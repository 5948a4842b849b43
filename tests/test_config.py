"""Run configuration: the recipes' settings and their validation (``hpt_core.config``)."""

from __future__ import annotations

import pytest

from hpt_core.errors import HPTInputError


def test_the_fitting_sample_is_the_small_data_default_and_bad_values_are_refused():
    """The small-data recipe fits its add-ons on at most 10,000 documents (written into run.json);
    the paper's recipe has no add-ons and no limit; the CLI's 0 means every document."""
    import argparse

    from hpt_core.cli_options import configs_from_args
    from hpt_core.config import TrainConfig
    from hpt_core.recipes import train_recipe

    assert train_recipe("small-data").fit_documents == 10_000 and train_recipe("paper").fit_documents is None
    for bad in (0, 1, -5, 2.5, True, "100"):
        with pytest.raises(HPTInputError, match="fit_documents"):
            TrainConfig(fit_documents=bad)
    from hpt_core.cli import build_parser

    for given, expected in ((["--fit-documents", "0"], None), (["--fit-documents", "500"], 500), ([], 10_000)):
        args = build_parser().parse_args(["train", "--taxonomy", __file__, "--train", __file__, "--dev", __file__,
                                          "--run-dir", "x", *given])
        assert isinstance(args, argparse.Namespace)
        assert configs_from_args(args, "hpt")[2].fit_documents == expected
