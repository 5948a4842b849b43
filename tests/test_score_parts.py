"""benchmarks/score_parts.py: each part of a run's scores under both decision rules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import score_parts  # noqa: E402


def test_score_parts_of_a_run_without_a_channel(trained_run, capsys):
    result = score_parts.score_parts(trained_run)
    assert set(result) == {"dev", "test"}
    for parts in result.values():
        assert set(parts) == {"model"}  # no lexical channel in this run
        for micro, macro in parts["model"].values():
            assert 0.0 <= micro <= 100.0 and 0.0 <= macro <= 100.0
    assert score_parts.main([str(trained_run)]) == 0
    assert "| test | model |" in capsys.readouterr().out
