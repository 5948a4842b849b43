"""Progress of the long phases around training: the lexical channel's fit, the blend's grid,
tokenising, the final evaluation.

Why: before session 8 a run printed its first two lines and then nothing while the lexical
channel fitted (minutes on a few thousand documents, tens of minutes at hundreds of labels), and
the app showed "starting" all that time. Each phase now reports "k of n" with an ETA to the run
folder (``progress.json``, which the app's run page reads), the run log and the CLI's bar.

A phase is told its progress through a plain callback ``on_step(done, total, detail)``, so the
fitting functions (``hpt_core.lexical``, ``hpt_core.blend``) stay free of files and logging;
:func:`phase_record` turns one call into the record that training writes.
"""

from __future__ import annotations

import time
from typing import Callable

#: ``on_step(done, total, detail)``: ``done`` of ``total`` parts of a phase are finished;
#: ``detail`` says what was just done ("fit 3 of 9: C = 100").
StepCallback = Callable[[int, int, str], None]

def no_progress(phase: str) -> StepCallback:
    """A reporter (``phase`` → ``on_step``) that reports nothing: other processes than the main one,
    and callers that want no progress."""
    return lambda done, total, detail: None


#: The kind of a phase record in ``progress.json`` (step records have ``"step"``, epochs ``"epoch"``).
PHASE = "phase"


def phase_record(phase: str, done: int, total: int, detail: str, started: float, now: float | None = None) -> dict:
    """One progress record of ``phase``, begun at ``started`` (``time.time()``): ``done`` of
    ``total`` parts finished, and an ETA from the mean time per finished part (``None`` before
    the first one finishes)."""
    now = time.time() if now is None else now
    elapsed = max(now - started, 0.0)
    eta = elapsed / done * max(total - done, 0) if done > 0 else None
    return {"kind": PHASE, "phase": phase, "done": int(done), "total": int(total), "detail": detail,
            "elapsed_s": round(elapsed, 1), "eta_s": eta, "time": now}


def phase_text(record: dict) -> str:
    """One line for a phase record: ``lexical channel: fit 3 of 9: C = 100 · ETA 1m 20s``."""
    text = f"{record.get('phase', 'working')}: {record.get('detail') or ''}".rstrip(": ")
    total = record.get("total") or 0
    if total > 1:
        text += f" ({record.get('done', 0)}/{total})"
    eta = record.get("eta_s")
    return text + (f" · ETA {duration_text(eta)}" if eta is not None else "")


def duration_text(seconds) -> str:
    """``"1h 05m"``, ``"2m 07s"``; ``"—"`` for ``None``."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m {seconds % 60:02d}s"
