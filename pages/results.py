"""Results: one run's figures (Figure 3, per-label table) and several runs compared (Table 3, Figure 4)."""

from pathlib import Path

import pandas as pd
import streamlit as st

from hpt_core import runs, viz
from hpt_core.errors import HPTInputError
from hpt_core.methods import METHODS, describe
from pages._errors_ui import error_browser
from pages._experiment_ui import experiment_results
from pages._shared import (chart, csv_bytes, current_run, evaluation, md, page_setup, require_run, show_error,
                           summaries, workspace)

page_setup()

ws = workspace()
st.title("Results")

FIGURES = [  # (report key, row name)
    ("micro_f1", "micro-F1"),
    ("macro_f1", "macro-F1 (labels present in the gold standard; the paper's)"),
    ("macro_f1_all_labels", "macro-F1 (all labels; absent ones count as 0)"),
    ("hierarchical_f1", "hierarchical F1"),
    ("path_consistency", "path consistency (share of documents)"),
]


def pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def metrics_of(run_dir: Path) -> dict:
    return runs.read_json(run_dir / runs.METRICS, {}) or {}


def method_of(run_dir: Path) -> str:
    config = runs.read_json(run_dir / runs.RUN_CONFIG, {}) or {}
    return (config.get("model") or {}).get("method") or metrics_of(run_dir).get("method") or "?"


def one_run(run_dir: Path) -> None:
    metrics = metrics_of(run_dir)
    config = runs.read_json(run_dir / runs.RUN_CONFIG, {}) or {}
    method = method_of(run_dir)
    about = f" — {md(describe(method))}" if method in METHODS else ""
    st.markdown(f"**{md(run_dir.name)}** · method {md(method)}{about}")
    splits = [s for s in ("test", "dev") if metrics.get(s)]
    if not splits:
        state = runs.run_status(run_dir).get("state", "new")
        st.info(f"No results yet (state: {md(state)}). They appear when training finishes; follow it on the Train page.",
                icon=":material/info:")
        return
    split = st.segmented_control("Split", splits, default=splits[0], key="results_split") or splits[0]
    report = metrics[split]
    c = st.columns(5)
    c[0].metric("Micro-F1", pct(report["micro_f1"]))
    c[1].metric("Macro-F1", pct(report["macro_f1"]), help="Mean F1 over the labels present in the gold standard of this "
                "split (the paper's and the benchmarks' convention).")
    c[2].metric("Macro-F1, all labels", pct(report["macro_f1_all_labels"]),
                help="Mean F1 over every label of the tree; labels absent from the split count as 0.")
    c[3].metric("Hierarchical F1", pct(report["hierarchical_f1"]))
    c[4].metric("Path consistency", pct(report["path_consistency"]),
                help="Share of documents whose predicted labels all have their parent predicted too.")
    st.caption(f"{report.get('n_documents', '?')} {split} documents. Independent decision: each label with score > 0 "
               "(the paper's). Hierarchy-consistent: a label is kept only when its parent is.")
    table = pd.DataFrame({
        "figure": [name for _, name in FIGURES],
        "independent (score > 0)": [pct(report.get(key)) for key, _ in FIGURES],
        "hierarchy-consistent": [pct(report["consistent"].get(key)) for key, _ in FIGURES],
    })
    st.dataframe(table, hide_index=True)

    left, right = st.columns(2)
    chart(viz.per_depth_figure({"independent": report["per_depth_macro_f1"],
                                "consistent": report["consistent"]["per_depth_macro_f1"]}), key="res_depth", where=left)
    chart(viz.quintile_figure({"independent": report["frequency_quintile_macro_f1"],
                               "consistent": report["consistent"]["frequency_quintile_macro_f1"]}),
          key="res_quintile", where=right)
    st.caption("Figure 3b groups the labels by training documents into five equal groups; >80% is the most frequent fifth.")

    st.markdown("**Per label** (independent decision; click a column header to sort)")
    data = (config.get("data") or {}).get(split)
    if not data or not Path(data).is_file():
        st.warning(f"The {split} file of this run is gone ({md(data)}); the per-label table needs it.",
                   icon=":material/warning:")
    else:
        try:
            _, per_label = evaluation(run_dir, data)
        except HPTInputError as err:
            show_error(err, "Cannot evaluate")
        else:
            st.dataframe(per_label, hide_index=True, column_config={
                c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")})
            st.download_button("Download per-label table (CSV)", csv_bytes(per_label),
                               file_name=f"{run_dir.name}-{split}-per-label.csv", mime="text/csv",
                               icon=":material/download:", on_click="ignore")
            if st.toggle("Browse the errors: documents, error kinds, explanations, sibling confusion", key="err_on"):
                error_browser(run_dir, split, data)

    history = runs.run_history(run_dir)
    left, right = st.columns(2)
    if history:
        chart(viz.dev_curves_figure({run_dir.name: history}), key="res_dev", where=left)
    with right:
        st.markdown("**Training**")
        st.dataframe(pd.DataFrame([
            {"": "best epoch", "value": str(metrics.get("best_epoch"))},
            {"": "epochs run", "value": str(metrics.get("epochs_run"))},
            {"": "training documents", "value": str(metrics.get("train_documents"))},
            {"": "training time", "value": f"{metrics.get('train_seconds', 0):.0f} s"},
            {"": "device", "value": str(metrics.get("device"))},
        ]), hide_index=True)
        with st.expander("Run configuration (run.json)"):
            st.json(config, expanded=False)


def compare(current: Path | None) -> None:
    finished = [p for p in ws.list_runs() if metrics_of(p)]
    if len(finished) < 1:
        st.info("No finished runs yet. Train HPT and, for Table 3, its ablations on the same dataset and seed.",
                icon=":material/info:")
        return
    rows = {row["run"]: row for row in summaries(finished)}
    here = summaries([current])[0]["dataset"] if current is not None and current.is_dir() else None
    same = [p.name for p in finished if here is not None and rows[p.name]["dataset"] == here]
    chosen = st.multiselect("Runs", [p.name for p in finished], default=(same or [finished[0].name])[:10],
                            format_func=lambda n: f"{n} · {rows[n]['method']} · {rows[n]['dataset']}", key="cmp_runs")
    if not chosen:
        st.caption("Pick runs to compare.")
        return
    split = st.segmented_control("Split", ["test", "dev"], default="test", key="cmp_split",
                                 help="Runs without test figures show dev ones.") or "test"
    run_dirs = [ws.runs_dir / name for name in chosen]
    from hpt_core.experiments import comparison_table, low_resource_summary  # imports the training stack

    table = comparison_table(run_dirs, split)
    if table.empty:
        st.caption("No figures in these runs.")
        return
    table.insert(2, "description", [describe(m) if m in METHODS else "" for m in table["method"]])
    st.markdown("**Ablations (Table 3)**: F1 in %; Δ against the first HPT run"
                + ("" if "delta_macro_f1" in table else " (no HPT run among these: no Δ)"))
    st.dataframe(table, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.2f") for c in table.columns if table[c].dtype.kind == "f"})
    st.download_button("Download comparison (CSV)", csv_bytes(table), file_name="comparison.csv", mime="text/csv",
                       icon=":material/download:", key="cmp_download", on_click="ignore")

    reports = {name: metrics_of(ws.runs_dir / name) for name in chosen}
    reports = {name: m.get(split) or m.get("dev") for name, m in reports.items()}
    left, right = st.columns(2)
    chart(viz.per_depth_figure({n: r["per_depth_macro_f1"] for n, r in reports.items() if r}),
          key="cmp_depth", where=left)
    chart(viz.quintile_figure({n: r["frequency_quintile_macro_f1"] for n, r in reports.items() if r}),
          key="cmp_quintile", where=right)

    st.markdown("**Low resource (Figure 4)**: mean ± std over seeds, per method and training fraction")
    summary = low_resource_summary(run_dirs, split)
    if summary.empty:
        st.caption("No figures.")
    else:
        left, right = st.columns(2)
        left.dataframe(summary, hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="%.2f") for c in summary.columns if summary[c].dtype.kind == "f"})
        chart(viz.low_resource_figure(summary), key="cmp_low", where=right)
        if summary["micro_f1_count"].max() < 2:
            st.caption("Each group has one seed: launch several seeds on the Train page (e.g. 1,2,3 with fraction 0.1).")

    histories = {name: runs.run_history(ws.runs_dir / name) for name in chosen}
    chart(viz.dev_curves_figure(histories, title="Dev F1 per epoch (all chosen runs)"), key="cmp_dev")


tab_one, tab_many, tab_experiments = st.tabs(["This run", "Compare runs", "Experiments"])
with tab_many:
    compare(current_run())
with tab_experiments:  # before "This run": that tab stops the page when there is no run
    experiment_results()
with tab_one:
    one_run(require_run(need_model=False))
