"""Print finished runs as one Markdown table (the figures quoted in docs/benchmarks.md).

    python benchmarks/table.py runs/wos1k-hpt runs/wos1k-vanilla [--split test]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository's hpt_core importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpt_core.experiments import comparison_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("--split", choices=["test", "dev"], default="test")
    args = parser.parse_args()
    table = comparison_table(args.run_dirs, args.split)
    depth_columns = [c for c in table.columns if c.startswith("depth_")]
    table["per_depth_macro_f1"] = table[depth_columns].apply(
        lambda row: " / ".join(f"{v:.2f}" for v in row if v == v), axis=1)
    table["train_minutes"] = table["train_seconds"] / 60
    table["best_epoch / run"] = [f"{b} / {e}" for b, e in zip(table["best_epoch"], table["epochs_run"])]
    columns = ["run", "method", "split", "micro_f1", "macro_f1", "per_depth_macro_f1",
               "consistent_micro_f1", "consistent_macro_f1", "best_epoch / run", "train_minutes", "train_docs_per_s"]
    def cell(value) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for _, row in table[columns].iterrows():
        print("| " + " | ".join(cell(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
