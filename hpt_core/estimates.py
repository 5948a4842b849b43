"""How long planned runs will take on this device, before they are launched (issue 21: one click must
not queue days of work unannounced).

A run's cost is about its training tokens — tokens of an epoch's inputs × epochs (after the CPU
token budget; fewer with a step limit) — over the speed of the device, plus the parts around
training (the lexical channel's and the blend's fits, tokenising, the final evaluation). The speed
is *measured*: the median tokens per second of finished runs of the same backbone on the same
device in this workspace (``metrics.json``: ``epoch_tokens``, ``epochs_run``, ``train_seconds``,
``run_seconds``). Until one exists, a reference measured on a 2-core CPU stands in, and the
estimate says so.

Tokens are approximated from words (``TOKENS_PER_WORD``), each text at most ``max_length`` tokens:
the estimate needs no tokenizer and costs nothing to redraw while a form changes.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

#: Word pieces per whitespace word in English text (MiniLM / BERT uncased vocabularies).
TOKENS_PER_WORD = 1.3
#: Tokens of the template around each text ([CLS], [SEP], the soft and [PRED] tokens).
TEMPLATE_TOKENS = 12
#: Training tokens per second (with the per-epoch dev evaluations) of the default recipe on the
#: bundled MiniLM, 2-core CPU with native bfloat16: Amazon-531, 179,610 tokens × 10 epochs in
#: 1,231 s (docs/benchmarks.md, session 8). Used only until this device has a finished run.
REFERENCE_TOKENS_PER_S = 1_459.0
#: Whole run ÷ training, until measured: the fits, tokenising and the final evaluation (Amazon-531:
#: 1,589 s of run for 1,231 s of training).
REFERENCE_OVERHEAD = 1.29


@dataclass(frozen=True)
class Speed:
    """Training tokens per second and the whole run's time ÷ training time, and where they come from."""

    tokens_per_s: float
    overhead: float
    source: str


def measured_speed(run_dirs, device: str, backbone: str) -> Speed:
    """The median speed of the finished runs among ``run_dirs`` trained on ``device`` (e.g.
    ``"CPU (2 cores)"``, as ``metrics.json`` names it) with ``backbone``; the CPU reference when
    there is none."""
    from hpt_core import runs

    speeds, overheads = [], []
    for run_dir in run_dirs:
        metrics = runs.read_json(Path(run_dir) / runs.METRICS, {}) or {}
        config = runs.read_json(Path(run_dir) / runs.RUN_CONFIG, {}) or {}
        tokens, epochs, seconds = metrics.get("epoch_tokens"), metrics.get("epochs_run"), metrics.get("train_seconds")
        if metrics.get("device") != device or (config.get("model") or {}).get("backbone") != backbone:
            continue
        if not tokens or not epochs or not seconds or seconds <= 0:
            continue
        speeds.append(tokens * epochs / seconds)
        # a replay round's short epoch beside fits over every document is not a full run's overhead
        if metrics.get("run_seconds") and not metrics.get("replay"):
            overheads.append(metrics["run_seconds"] / seconds)
    if not speeds:
        return Speed(REFERENCE_TOKENS_PER_S, REFERENCE_OVERHEAD,
                     "no finished run on this device yet: a 2-core CPU's speed stands in")
    return Speed(statistics.median(speeds), statistics.median(overheads) if overheads else REFERENCE_OVERHEAD,
                 f"measured on {len(speeds)} finished run{'s' if len(speeds) != 1 else ''} on this device")


def approximate_tokens(texts, max_length: int) -> int:
    """Tokens of the model's inputs for ``texts``, approximated from their words (each text at most
    ``max_length`` tokens)."""
    return sum(min(max_length, math.ceil(TOKENS_PER_WORD * len(text.split())) + TEMPLATE_TOKENS) for text in texts)


def run_seconds(epoch_tokens: int, n_documents: int, train, speed: Speed, on_cpu: bool) -> float:
    """The estimated wall time of one run: ``epoch_tokens`` (tokens of one epoch's inputs) over
    ``train`` (a ``TrainConfig``: epochs, the CPU token budget on a CPU, a step limit of
    ``max_steps`` batches of ``batch_size`` out of ``n_documents``), at ``speed``."""
    epochs = train.epochs
    if on_cpu and train.cpu_token_budget and epoch_tokens:
        epochs = max(1, min(epochs, train.cpu_token_budget // epoch_tokens))
    tokens = epoch_tokens * epochs
    if train.max_steps:
        steps_per_epoch = max(1, math.ceil(n_documents / max(1, train.batch_size)))
        tokens = min(tokens, epoch_tokens * train.max_steps / steps_per_epoch)
    return tokens / speed.tokens_per_s * speed.overhead


def duration_words(seconds: float) -> str:
    """``"about 3 h 20 min"``, ``"about 12 min"``, ``"under a minute"``."""
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"about {hours / 24:.1f} days"
    return f"about {hours} h {minutes:02d} min"
