import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpt_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["train", "evaluate", "predict", "neighbours", "ablate", "low-resource", "import", "methods", "decide", "explain",
            "blend"]


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "hpt_core", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m hpt_core " + command in capsys.readouterr().out


def test_the_main_help_lists_the_public_commands_and_nothing_internal(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)
    assert "SUPPRESS" not in out and "run-job" not in out and "run-experiment" not in out


def test_evaluate_json_has_the_documented_keys(trained_run, task_files, capsys):
    assert main(["evaluate", "--run-dir", str(trained_run), "--data", str(task_files["test"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    keys = {"micro_f1", "macro_f1", "macro_f1_all_labels", "per_depth_macro_f1", "frequency_quintile_macro_f1",
            "path_consistency", "hierarchical_f1", "consistent"}
    assert keys <= set(report)
    assert set(report["per_depth_macro_f1"]) == {"1", "2", "3"}
    assert len(report["frequency_quintile_macro_f1"]) == 5
    assert keys - {"consistent"} <= set(report["consistent"])


def test_evaluate_prints_a_readable_summary(trained_run, task_files, capsys):
    assert main(["evaluate", "--run-dir", str(trained_run), "--data", str(task_files["test"])]) == 0
    out = capsys.readouterr().out
    assert "hierarchy-consistent" in out and "all-labels convention" in out


def test_predict_text_and_file(trained_run, tmp_path, capsys):
    assert main(["predict", "--run-dir", str(trained_run), "--text", "goal striker", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert {"labels", "consistent_labels", "paths", "scores"} <= set(line)
    assert (line["tokens_total"], line["tokens_read"], line["windows"]) == (2, 2, 1)
    texts = tmp_path / "texts.txt"
    texts.write_text("goal striker\n\ncell gene protein\n", encoding="utf-8")
    assert main(["predict", "--run-dir", str(trained_run), "--file", str(texts)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["predict", "--run-dir", str(trained_run), "--file", str(texts), "--precision", "bf16"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_predict_says_how_sure_and_flags_texts_below_a_confidence(trained_run, tmp_path, capsys):
    from hpt_core.calibration import CALIBRATION_FILE

    assert (trained_run / "model" / CALIBRATION_FILE).is_file()  # written when training ended
    assert main(["predict", "--run-dir", str(trained_run), "--text", "goal striker", "--json", "--abstain-below", "1"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert 0.0 <= line["document_confidence"] <= 1.0 and line["abstained"] is True
    assert all(c["confidence"] is not None for c in line["confidence"])
    assert line["document_confidence"] == pytest.approx(min(c["confidence"] for c in line["confidence"]), abs=1e-5)
    assert main(["predict", "--run-dir", str(trained_run), "--text", "😀🎉", "--abstain-below", "0"]) == 0
    out, err = capsys.readouterr()
    assert not out.startswith("(abstain)") and "confidence" in out and "no words" in err
    corpus, predictions = tmp_path / "in.txt", tmp_path / "out.jsonl"
    corpus.write_text("goal striker\ncell gene\n", encoding="utf-8")
    assert main(["predict", "--run-dir", str(trained_run), "--input", str(corpus), "--output", str(predictions),
                 "--abstain-below", "1"]) == 0
    records = [json.loads(x) for x in predictions.read_text(encoding="utf-8").splitlines()]
    assert [r["abstained"] for r in records] == [True, True]
    # words the model knows: a warning only where the familiarity check finds the text unlike the
    # training texts (the tiny random encoder's say)
    threshold = json.loads((trained_run / "model" / "familiarity.json").read_text())["threshold"]
    assert all(len(r["warnings"]) == (r["familiarity"] < threshold) for r in records)
    with pytest.raises(SystemExit):
        main(["predict", "--run-dir", str(trained_run), "--text", "x", "--abstain-below", "1.5"])
    assert "between 0 and 1" in capsys.readouterr().err


def test_neighbours_json(trained_run, capsys):
    assert main(["neighbours", "--run-dir", str(trained_run), "--label", "tennis", "-k", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == ["tennis"] and len(result["tennis"]) == 4


@pytest.mark.parametrize(
    "args, reason",
    [
        (["predict", "--run-dir", "{missing}", "--text", "x"], "run folder not found"),
        (["neighbours", "--run-dir", "{run}", "--label", "nope"], "unknown label"),
        (["evaluate", "--run-dir", "{run}", "--data", "{missing}"], "not found"),
        (["train", "--taxonomy", "{missing}", "--train", "{missing}", "--dev", "{missing}", "--run-dir", "{tmp}/r"], "file not found"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(args, reason, trained_run, tmp_path, capsys):
    fill = {"missing": tmp_path / "missing.jsonl", "run": trained_run, "tmp": tmp_path}
    code = main([a.format(**fill) for a in args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and reason in err and len(err.splitlines()) == 1


def test_import_writes_the_benchmark_layout(task_files, tmp_path):
    out = tmp_path / "dataset"
    result = run_cli("import", "--taxonomy", task_files["taxonomy"], "--corpus", task_files["train"], "--output", out)
    assert result.returncode == 0, result.stderr
    assert {"taxonomy.tsv", "train.jsonl", "dev.jsonl", "test.jsonl"} <= {p.name for p in out.iterdir()}
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {"text", "labels"}


def test_import_rejects_unknown_labels_and_writes_nothing(task_files, tmp_path):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"text": "goal", "labels": ["football"]}\n{"text": "x", "labels": ["cricket"]}\n')
    out = tmp_path / "dataset"
    result = run_cli("import", "--taxonomy", task_files["taxonomy"], "--corpus", corpus, "--output", out)
    assert result.returncode == 2
    assert "bad.jsonl:2" in result.stderr and "cricket" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", ["import", "train", "ablate", "low-resource"])
@pytest.mark.parametrize("seed", ["-1", "4294967296", "99999999999999999999", "1.5"])
def test_a_negative_or_huge_seed_is_one_line_before_anything_is_read(command, seed, task_files, tmp_path):
    """NumPy takes seeds from 0 to 2**32 - 1 for training and any non-negative one for a split, but
    raised its own ``ValueError`` traceback on ``import --seed -1``: every ``--seed`` has one range."""
    files = ["--taxonomy", task_files["taxonomy"]]
    if command == "import":
        files += ["--corpus", task_files["train"], "--output", tmp_path / "out"]
    else:
        files += ["--train", task_files["train"], "--dev", task_files["dev"]]
        files += ["--run-dir" if command == "train" else "--out", tmp_path / "out"]
    result = run_cli(command, *files, "--seed", seed)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: python -m hpt_core {command}: argument --seed: must be a whole number from 0 to 4294967295, "
        f"got {seed if seed != '1.5' else repr(seed)} (see --help)"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_train_then_ablate_through_the_cli(task_files, tiny_backbone, tmp_path):
    common = ["--taxonomy", task_files["taxonomy"], "--train", task_files["train"], "--dev", task_files["dev"],
              "--backbone", tiny_backbone, "--max-length", "32", "--epochs", "1", "--batch-size", "8"]
    result = run_cli("train", *common, "--run-dir", tmp_path / "run", "--method", "soft-prompt")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "best epoch 1" in result.stdout
    result = run_cli("ablate", *common, "--test", task_files["test"], "--methods", "hpt,rm-injection", "--out", tmp_path / "abl")
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "abl" / "ablation.csv").read_text()
    assert "rm-injection" in table and "delta_macro_f1" in table


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_low_resource_reads_a_taxonomy_from_a_pipe_once_for_every_run(task_files, tiny_backbone, tmp_path):
    """A pipe (``--taxonomy <(…)``) can be read once; the runner's runs each read it again, so it is
    kept as a file in the output folder first."""
    import os
    import threading

    fifo = tmp_path / "taxonomy-pipe"  # like /dev/fd/63 of a process substitution: no suffix
    os.mkfifo(fifo)
    content = Path(task_files["taxonomy"]).read_bytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(content), daemon=True)
    writer.start()
    result = run_cli("low-resource", "--taxonomy", fifo, "--train", task_files["train"], "--dev", task_files["dev"],
                     "--backbone", tiny_backbone, "--max-length", "32", "--epochs", "1", "--max-steps", "1",
                     "--fraction", "0.5", "--seeds", "1,2", "--blend", "none", "--out", tmp_path / "lr")
    writer.join(timeout=5)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "lr" / "inputs" / "taxonomy.tsv").read_bytes() == content
    assert len(list((tmp_path / "lr").glob("*seed*/metrics.json"))) == 2


@pytest.mark.slow  # a background job, a subprocess or a training: the fast loop leaves it out
def test_ablate_rejects_an_option_that_fits_no_method_before_training(task_files, tmp_path):
    result = run_cli("ablate", "--taxonomy", task_files["taxonomy"], "--train", task_files["train"],
                     "--dev", task_files["dev"], "--methods", "hpt,vanilla", "--text-residual-gate", "2",
                     "--out", tmp_path / "abl")
    assert result.returncode == 2 and "text_residual_gate" in result.stderr
    assert not (tmp_path / "abl").exists()


def test_recipe_sets_learning_rates_and_explicit_options_win(task_files):
    from hpt_core.cli import build_parser
    from hpt_core.cli_options import configs_from_args
    from hpt_core.config import HPTConfig, PipelineConfig, TrainConfig

    common = ["train", "--taxonomy", str(task_files["taxonomy"]), "--train", str(task_files["train"]),
              "--dev", str(task_files["dev"]), "--run-dir", "unused"]
    default, _, _ = configs_from_args(build_parser().parse_args(common), "hpt")
    assert (default.train.lr, default.train.new_params_lr, default.train.warmup_ratio) == (1e-4, 1e-3, 0.05)
    assert (default.model.label_word_encoding, default.model.text_residual_gate, default.pipeline.lexical_channel) == (
        "encoder", 3.0, "tfidf")
    # the paper's exact settings are one option away
    paper, _, _ = configs_from_args(build_parser().parse_args(common + ["--recipe", "paper"]), "hpt")
    assert paper.train == TrainConfig() and paper.model == HPTConfig() and paper.pipeline == PipelineConfig()
    small, _, _ = configs_from_args(build_parser().parse_args(common + ["--lr", "2e-4", "--text-residual-gate", "3"]), "hpt")
    assert (small.train.lr, small.train.new_params_lr, small.model.text_residual_gate) == (2e-4, 1e-3, 3.0)
    off, _, _ = configs_from_args(build_parser().parse_args(common + ["--text-residual-gate", "none", "--lexical-channel", "none",
                                                             "--label-word-encoding", "embeddings", "--blend", "none"]),
                         "hpt")
    # the paper's model but the recipe's fused attention (no attention dropout) and dev-chosen
    # decision rule, the recipe's rates
    assert off.model == HPTConfig(attention_dropout=0.0) and off.train.lr == 1e-4
    assert off.pipeline == PipelineConfig(decision="auto")
    assert default.pipeline.blend == "classical"
    fixed, _, _ = configs_from_args(build_parser().parse_args(common + ["--decision", "threshold", "--precision", "fp32"]), "hpt")
    assert (fixed.pipeline.decision, fixed.train.precision) == ("threshold", "fp32")
    assert default.pipeline.familiarity and paper.pipeline.familiarity  # it changes no score: on for every recipe
    quiet, _, _ = configs_from_args(build_parser().parse_args(common + ["--familiarity", "off"]), "hpt")
    assert quiet.pipeline == default.pipeline.replace(familiarity=False)
    # vanilla fine-tuning has no label words: the recipe's label-word options skip it, its rates apply
    vanilla, _, _ = configs_from_args(build_parser().parse_args(common), "vanilla")
    assert vanilla.model.text_residual_gate is None and vanilla.train.new_params_lr == 1e-3


def test_window_batching_and_attention_options_reach_the_configs(task_files):
    from hpt_core.cli import build_parser
    from hpt_core.cli_options import configs_from_args

    common = ["train", "--taxonomy", str(task_files["taxonomy"]), "--train", str(task_files["train"]),
              "--dev", str(task_files["dev"]), "--run-dir", "unused"]
    default, _, _ = configs_from_args(build_parser().parse_args(common), "hpt")
    assert (default.model.max_windows, default.train.batching, default.model.attention_dropout) == (1, "length_grouped", 0.0)
    given, _, _ = configs_from_args(build_parser().parse_args(common + [
        "--max-windows", "4", "--window-overlap", "32", "--window-pooling", "mean", "--batching", "random",
        "--attention-dropout", "0.1"]), "hpt")
    assert (given.model.max_windows, given.model.window_overlap, given.model.window_pooling) == (4, 32, "mean")
    assert (given.train.batching, given.model.attention_dropout) == ("random", 0.1)


def test_import_can_skip_unknown_labels_with_one_warning_line(task_files, tmp_path):
    corpus = tmp_path / "mixed.jsonl"
    corpus.write_text("".join('{"text": "goal striker", "labels": ["football"]}\n' for _ in range(9))
                      + '{"text": "x", "labels": ["cricket"]}\n')
    out = tmp_path / "dataset"
    result = run_cli("import", "--taxonomy", task_files["taxonomy"], "--corpus", corpus, "--output", out, "--skip-unknown")
    assert result.returncode == 0, result.stderr
    warning_lines = [l for l in result.stderr.splitlines() if l.startswith("warning:")]
    assert len(warning_lines) == 1 and "skipped 1 document" in warning_lines[0] and "mixed.jsonl:10" in warning_lines[0]
    assert "import_corpus(" not in result.stderr  # no source line of the CLI


def test_decide_sets_or_chooses_a_finished_runs_decision_rule(trained_run, tmp_path, capsys):
    """`decide` on a run: a fixed rule is written into the model folder and the figures follow it;
    `auto` chooses on the run's dev file and records the comparison."""
    import shutil

    from hpt_core.classifier import HTCClassifier

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    assert main(["decide", "--run-dir", str(run), "--decision", "path"]) == 0
    assert "decision rule: best single path" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["decision"] == "path" and metrics["test"]["path_consistency"] == 1.0
    assert HTCClassifier.from_pretrained(run / "model").decision == "path"
    assert main(["decide", "--run-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["decision"]["dev_macro_f1"]) == {"threshold", "path"}
    assert metrics["dev"]["macro_f1"] == max(metrics["decision"]["dev_macro_f1"].values())
    capsys.readouterr()
    assert main(["decide", "--run-dir", str(tmp_path / "nope")]) != 0
    assert "run folder not found" in capsys.readouterr().err
