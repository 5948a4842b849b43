"""Predicting a corpus bigger than memory: read the input a chunk at a time, append each chunk's
predictions to a JSON Lines output, flushed to disk, and start again where the output stops.

    python -m hpt_core predict --run-dir R --input corpus.jsonl --output predictions.jsonl

Input: ``.jsonl`` (a ``text`` field a line; other fields are ignored), ``.txt`` (one text a line;
empty lines are skipped), ``.csv``/``.tsv`` (a ``text`` column). Output: one JSON object a text, in
input order: ``line`` (the input line), ``labels``, ``consistent_labels``, ``paths``,
``top_scores``, ``confidence`` (per label on the paths: probability, margin over its best sibling
and calibrated confidence), ``document_confidence``, ``warnings`` (and ``abstained`` with
``--abstain-below``). Memory holds one chunk, whatever the corpus's size.

Resume: an output that exists holds the predictions of the first texts (a line cut off by a kill
is dropped); the run skips that many texts and appends the rest, so the file ends as an
uninterrupted run's would. A bad input line stops the run with its file, line and problem; the
predictions before it stay, and the same command goes on once it is fixed.

Several processes (``accelerate launch --num_processes K -m hpt_core predict …``, a GPU each; on a
machine without a GPU ``accelerate launch --multi_gpu --num_processes K …``, CPU processes joined
over gloo): chunk ``c`` of the input goes to process ``c mod K``, which appends its predictions
to its own part file beside the output (``<output>.part-<k>-of-<K>``, resumed as above); when every
process is done, the first merges the parts chunk by chunk, in input order, into the output (written
to a temporary sibling and renamed: whole or absent) and removes them. The output is the file one
process would have written.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from hpt_core.errors import HPTInputError
from hpt_core.inputs import check_text

#: Texts predicted and written at a time.
CHUNK = 256
#: Input suffixes understood.
SUFFIXES = (".jsonl", ".txt", ".csv", ".tsv")


def _texts(path: Path, skip: int) -> Iterator[tuple[int, str]]:
    """(line number, text) of each text of ``path`` after the first ``skip`` texts, read lazily."""
    suffix = path.suffix.lower()
    seen = 0
    with path.open("r", encoding="utf-8", newline="" if suffix in (".csv", ".tsv") else None) as handle:
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            if "text" not in (reader.fieldnames or []):
                raise HPTInputError(f"no 'text' column (columns: {', '.join(reader.fieldnames or []) or 'none'})", path, 1)
            for row in reader:
                seen += 1
                if seen > skip:
                    yield reader.line_num, check_text(row.get("text") or "", path, reader.line_num)
            return
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if suffix == ".jsonl":
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise HPTInputError(f"not valid JSON ({err.msg})", path, number) from None
                if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                    raise HPTInputError("expected an object with a 'text' string", path, number)
                line = record["text"]
            seen += 1
            if seen > skip:
                yield number, check_text(line, path, number)


def _shard_texts(path: Path, rank: int, world: int, chunk: int, skip: int) -> Iterator[tuple[int, str]]:
    """The texts of the chunks ``rank``, ``rank + world``, … of ``path`` (chunk ``c``: texts
    ``c × chunk`` to ``(c + 1) × chunk − 1``), after the first ``skip`` of them."""
    kept = 0
    for index, item in enumerate(_texts(path, 0)):
        if (index // chunk) % world == rank:
            kept += 1
            if kept > skip:
                yield item


def shard_size(total: int, rank: int, world: int, chunk: int) -> int:
    """How many of ``total`` texts fall in process ``rank``'s chunks (see ``_shard_texts``)."""
    return sum(min(chunk, total - c * chunk) for c in range(rank, -(-total // chunk), world))


def part_path(output: str | Path, rank: int, world: int) -> Path:
    """Process ``rank``'s part of ``output`` when ``world`` processes share the corpus."""
    output = Path(output)
    return output.with_name(f"{output.name}.part-{rank}-of-{world}")


def count_texts(path: str | Path) -> int:
    """How many texts ``path`` holds (one pass, nothing kept): the progress bar's total."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        with path.open("r", encoding="utf-8", newline="") as handle:
            return sum(1 for _ in csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    with path.open("r", encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _done_so_far(output: Path) -> int:
    """Complete predictions in ``output`` (each line a JSON object ending in a newline); a last line
    cut off by a kill is removed, so that appending continues a well-formed file."""
    if not output.exists():
        return 0
    good_bytes, done = 0, 0
    with output.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                json.loads(raw)
            except ValueError:
                break
            good_bytes += len(raw)
            done += 1
    if good_bytes != output.stat().st_size:
        with output.open("r+b") as handle:
            handle.truncate(good_bytes)
    return done


def predict_file(predictor, input_path: str | Path, output_path: str | Path, chunk: int = CHUNK, top: int = 10,
                 on_progress: Callable[[int, int, float], None] | None = None,
                 abstain_below: float | None = None, rank: int = 0, world: int = 1) -> dict:
    """Predict every text of ``input_path`` into ``output_path`` (JSON Lines), ``chunk`` texts at a
    time, resuming after the predictions already there. ``on_progress(done, total, seconds)`` after
    each chunk; ``abstain_below``: flag texts below this calibrated confidence (``abstained``).

    ``rank`` of ``world`` processes: this process predicts its chunks into its part file
    (``part_path``); ``merge_parts`` then makes the output. Returns ``{"total", "resumed_from",
    "predicted", "seconds"}`` (this process's share when ``world`` > 1) and ``"input_texts"``, the
    whole input's count (what ``merge_parts`` needs, so the input is not counted again)."""
    from hpt_core.predict import prediction_record

    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.suffix.lower() not in SUFFIXES:
        raise HPTInputError(f"unsupported input {input_path.suffix or '(no suffix)'}; use {', '.join(SUFFIXES)}", input_path)
    if not input_path.is_file():
        raise HPTInputError("input file not found", input_path)
    if output_path.resolve() == input_path.resolve():
        raise HPTInputError("the output would overwrite the input; choose another --output", output_path)
    if not 0 <= rank < world:
        raise HPTInputError(f"process {rank} of {world}: no such process")
    total = input_texts = count_texts(input_path)
    if world > 1:
        if output_path.exists():
            finished = _done_so_far(output_path)
            if finished == total:  # merged already (a relaunch after the end): nothing to do
                return {"total": total, "resumed_from": total, "predicted": 0, "seconds": 0.0, "input_texts": total}
            raise HPTInputError(f"holds {finished:,} of {total:,} predictions from a single-process run: finish it "
                                "without accelerate launch, or remove it", output_path)
        written, total = part_path(output_path, rank, world), shard_size(total, rank, world, chunk)
    else:
        written = output_path
    done = _done_so_far(written)
    resumed_from = done
    if done > total:
        raise HPTInputError(f"holds {done:,} predictions but the input has {total:,} texts: not this input's output",
                            written)
    written.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    texts = _texts(input_path, done) if world == 1 else _shard_texts(input_path, rank, world, chunk, done)
    with written.open("a", encoding="utf-8") as out:
        while True:
            batch = [item for _, item in zip(range(chunk), texts)]
            if not batch:
                break
            predictions = predictor.predict([text for _, text in batch])
            out.write("".join(json.dumps({"line": number, **prediction_record(p, top, predictor.hierarchy, abstain_below)}, ensure_ascii=False) + "\n"
                              for (number, _), p in zip(batch, predictions)))
            out.flush()
            os.fsync(out.fileno())  # a chunk on disk before the next: a kill loses at most one chunk's work
            done += len(batch)
            if on_progress is not None:
                on_progress(done, total, time.perf_counter() - started)
    return {"total": total, "resumed_from": resumed_from, "predicted": done - resumed_from,
            "seconds": round(time.perf_counter() - started, 3), "input_texts": input_texts}


def merge_parts(output_path: str | Path, total: int, world: int, chunk: int = CHUNK) -> None:
    """Merge the ``world`` part files of ``output_path`` into it, chunk by chunk in input order (chunk
    ``c`` from part ``c mod world``), written to a temporary sibling, synced and renamed; then remove
    the parts. Refused, changing nothing, unless the parts hold exactly ``total`` predictions."""
    output_path = Path(output_path)
    parts = [part_path(output_path, rank, world) for rank in range(world)]
    held = [_done_so_far(part) for part in parts]
    expected = [shard_size(total, rank, world, chunk) for rank in range(world)]
    if held != expected:
        missing = ", ".join(f"part {rank}: {h:,} of {e:,}" for rank, (h, e) in enumerate(zip(held, expected)) if h != e)
        raise HPTInputError(f"cannot merge: the parts are incomplete ({missing}); run the same command again", output_path)
    merging = output_path.with_name(f".{output_path.name}.merging")
    handles = [part.open("r", encoding="utf-8") for part in parts]
    try:
        with merging.open("w", encoding="utf-8") as out:
            for c in range(-(-total // chunk)):
                out.writelines(line for _, line in zip(range(chunk), handles[c % world]))
            out.flush()
            os.fsync(out.fileno())
    finally:
        for handle in handles:
            handle.close()
    os.replace(merging, output_path)
    for part in parts:
        part.unlink()
