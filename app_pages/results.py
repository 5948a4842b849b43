"""Results: one run's figures (Figure 3, per-label table) and several runs compared (Table 3, Figure 4)."""

import functools
from pathlib import Path

import pandas as pd
import streamlit as st

from hpt_core import runs, viz
from hpt_core.config import LEXICAL_FITTERS
from hpt_core.decoding import decision_name
from hpt_core.errors import HPTInputError
from hpt_core.methods import METHODS, describe
from app_pages._errors_ui import error_browser
from app_pages._experiment_ui import experiment_results
from app_pages._shared import (chart, csv_bytes, current_run, evaluation, md, require_run, run_archive,
                           show_error, split_predictions, summaries, workspace)

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


def _sample_words(fit: dict, train_documents) -> str:
    """" (on a sample of M of N documents)" when an add-on was fitted on a fitting sample, else ""."""
    fitted = fit.get("fit_documents")
    if not fitted or not train_documents or fitted >= train_documents:
        return ""
    return f" (on a sample of {fitted:,} of {train_documents:,} training documents)"


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
    replay = metrics.get("replay")
    if isinstance(replay, dict):  # a quick round of the labelling loop (hpt_core.replay)
        st.caption(f"A quick round: its epoch read the {replay.get('new_documents', 0):,} documents new to the model it "
                   f"started from and {replay.get('replayed_documents', 0):,} of the others; the lexical channel and "
                   "the blend were fitted on every training document."
                   + ("" if "test" in splits else " Scored on dev only (the learning curve's figure): tick *Also "
                      "score the test split* on the Label page for the next round, or run `python -m hpt_core "
                      f"evaluate --run-dir RUN --data TEST_FILE` with RUN this run's folder, {md(str(run_dir))}."))
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
    rule = report.get("decision", "threshold")
    chosen = metrics.get("decision")
    zero_shot = metrics.get("method") == "zero-shot"
    st.caption(f"{report.get('n_documents', '?')} {split} documents. The model's decision: "
               + ("top-down, the most similar child while its similarity passes the dev-chosen threshold"
                  if zero_shot else "each label with score > 0 (the paper's)" if rule == "threshold" else
                  "one best root-to-leaf path per document (the best child at each depth)" if rule == "path" else
                  "complete paths top-down: every child scoring above 0 of a kept label, else its best child")
               + (f", chosen on dev (macro-F1 {', '.join(f'{decision_name(r)} {pct(f)}' for r, f in chosen['dev_macro_f1'].items())})"
                  if chosen else "")
               + ". The figures above score that decision as made"
               + (": a label may be kept without its parent (path consistency says how often). Predict and the "
                  "error browser show the hierarchy-consistent answer — a label kept only when its parent is — "
                  "scored in the table's second column." if rule == "threshold" and not zero_shot else
                  "; its paths are complete, so the hierarchy-consistent column below is the same answer."))
    blend = metrics.get("blend") or {}
    channel = metrics.get("lexical_channel") or {}
    fitted_as = LEXICAL_FITTERS.get(channel.get("fitter", "logistic"), "")
    decided_by = (f"the model's scores plus its lexical channel's (TF-IDF, {fitted_as}, C "
                  f"{channel['C']:g}; the model was trained beside it)" if "C" in channel else "the model's own scores")
    if "skipped" in blend:
        st.caption(f"No classical blend: {md(blend['skipped'])}; {decided_by} decide.")
    elif not blend and channel:
        st.caption(f"Scores: {decided_by}.")
    elif "model_weight" in blend:
        st.caption(f"Scores blended with the classical classifier (TF-IDF + the pretrained encoder's sentence "
                   f"embeddings, logistic regression, C {blend['C']:g}): the model's weight {blend['model_weight']:g}, "
                   "chosen on dev (macro-F1 by weight: "
                   + ", ".join(f"{a}: {pct(f)}" for a, f in blend.get("dev_macro_f1_by_model_weight", {}).items()) + ").")
    table = pd.DataFrame({
        "figure": [name for _, name in FIGURES],
        "top-down" if zero_shot else decision_name(rule): [pct(report.get(key)) for key, _ in FIGURES],
        "hierarchy-consistent": [pct(report["consistent"].get(key)) for key, _ in FIGURES],
    })
    st.dataframe(table, hide_index=True)
    multi = report.get("multi_path")
    if multi:  # where one best path can never be right: the documents of several paths alone
        st.caption(f"On the {multi['n_documents']} {split} documents with several paths: micro-F1 "
                   f"{pct(multi['micro_f1'])}, macro-F1 {pct(multi['macro_f1'])}, hierarchical F1 "
                   f"{pct(multi['hierarchical_f1'])}.")

    calibration = (metrics.get("calibration") or {}).get(split)
    if calibration and calibration.get("ece") is not None:
        depths = ", ".join(f"depth {d}: {part['ece']:.3f} ({100 * part['mean_confidence']:.0f} % said, "
                           f"{100 * part['share_right']:.0f} % right)" for d, part in calibration["by_depth"].items())
        st.caption(f"Confidence, calibrated on dev: expected calibration error on {split} {calibration['ece']:.3f} "
                   f"over {calibration['labels']:,} decided labels (0 is perfect; {depths}). Over all depths it can "
                   "be lower than at each depth: over- and under-confidence at different depths partly cancel in the "
                   "same bins. The Predict page shows it and can flag texts below a chosen confidence.")
    left, right = st.columns(2)
    short = "top-down" if zero_shot or rule == "top_down" else "independent" if rule == "threshold" else "best path"
    chart(viz.per_depth_figure({short: report["per_depth_macro_f1"],
                                "consistent": report["consistent"]["per_depth_macro_f1"]}), key="res_depth", where=left)
    chart(viz.quintile_figure({short: report["frequency_quintile_macro_f1"],
                               "consistent": report["consistent"]["frequency_quintile_macro_f1"]}),
          key="res_quintile", where=right)
    st.caption("Figure 3b groups the labels by training documents into five equal groups; >80% is the most frequent fifth.")

    st.markdown(f"**Per label** ({'top-down' if zero_shot else decision_name(rule)}; click a column header to sort)")
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
            if zero_shot:  # the browser opens each document with its explanation: a trained model's
                st.caption("The error browser needs a trained model (it explains each document's scores); a "
                           "zero-shot run has none. Its predictions on test are downloadable below.")
            elif st.toggle("Browse the errors: documents, error kinds, explanations, sibling confusion", key="err_on"):
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
            {"": "training steps and dev evaluations", "value": f"{metrics.get('train_seconds', 0):.0f} s"},
            *([{"": "whole run (fits, training, blend, scoring)", "value": f"{metrics['run_seconds']:.0f} s"}]
              if metrics.get("run_seconds") is not None else []),
            *([{"": "lexical channel's fit", "value": f"{metrics['lexical_channel']['seconds']:.0f} s"
                + _sample_words(metrics["lexical_channel"], metrics.get("train_documents"))}]
              if (metrics.get("lexical_channel") or {}).get("seconds") is not None else []),
            *([{"": "classical blend's fit", "value": f"{metrics['blend']['seconds']:.0f} s"
                + _sample_words(metrics["blend"], metrics.get("train_documents"))}]
              if (metrics.get("blend") or {}).get("seconds") is not None else []),
            {"": "device", "value": str(metrics.get("device"))},
        ]), hide_index=True)
        with st.expander("Run configuration (run.json)"):
            st.json(config, expanded=False)
    own(run_dir, config)


def own(run_dir: Path, config: dict) -> None:
    """The run as a thing one owns: its model folder and predictions to download."""
    st.markdown("**Download**")
    c1, c2 = st.columns(2)
    if (run_dir / runs.MODEL_DIR / "model.safetensors").is_file() or runs.is_zero_shot_run(run_dir):
        # Built when clicked (a model folder is tens of MB): nothing is zipped on a plain page view.
        c1.download_button("Model folder and figures (zip)", functools.partial(run_archive, run_dir),
                           file_name=f"{run_dir.name}.zip", mime="application/zip", icon=":material/folder_zip:",
                           key="own_zip", on_click="ignore",
                           help="run.json, zero_shot.json (the encoder and settings) and metrics" if runs.is_zero_shot_run(run_dir)
                           else "model/ (HTCClassifier.from_pretrained loads it), run.json, metrics, history and log")
    for split, where in (("test", c2), ("dev", c2)):
        data = (config.get("data") or {}).get(split)
        if data and Path(data).is_file():
            where.download_button(f"Predictions on {split} (CSV)", functools.partial(split_predictions, run_dir, data),
                                  file_name=f"{run_dir.name}-{split}-predictions.csv", mime="text/csv",
                                  icon=":material/download:", key=f"own_pred_{split}", on_click="ignore",
                                  help="every document's predicted labels and paths beside its gold labels")
            break
    st.caption("Delete or retry a run on the Train page.")


#: Display names of the comparison table's columns (the CSV keeps the library's names).
SHOWN = {"micro_f1": "micro-F1", "delta_micro_f1": "Δ micro", "macro_f1": "macro-F1", "delta_macro_f1": "Δ macro",
         "macro_f1_all_labels": "macro-F1 (all labels)", "consistent_micro_f1": "consistent micro-F1",
         "consistent_macro_f1": "consistent macro-F1", "hierarchical_f1": "hierarchical F1",
         "path_consistency": "path consistency", "run_seconds": "run s", "train_seconds": "train s", "train_docs_per_s": "docs/s",
         "best_epoch": "best epoch", "epochs_run": "epochs"}


def table3(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison as the paper prints Table 3: figures with two decimals, each Δ signed next to
    its figure, and an empty cell where there is no figure (never "None" or "nan")."""
    shown = pd.DataFrame(index=table.index)
    for column in table.columns:
        values = table[column]
        name = SHOWN.get(column) or (column.replace("depth_", "depth ").replace("_macro_f1", " macro-F1"))
        if column.startswith("delta_"):
            shown[name] = [f"{v:+.2f}" if pd.notna(v) else "" for v in values]
        elif column == "reference":
            shown[name] = ["reference" if v else "" for v in values]
        elif column in ("best_epoch", "epochs_run"):
            shown[name] = ["" if pd.isna(v) else str(int(v)) for v in values]
        elif column in ("train_seconds", "run_seconds"):
            shown[name] = ["" if pd.isna(v) else f"{v:.0f}" for v in values]
        elif values.dtype.kind == "f" or column.endswith("_f1") or column == "path_consistency":
            shown[name] = ["" if v is None or pd.isna(v) else f"{v:.2f}" for v in values]
        else:
            shown[name] = ["" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in values]
    return shown


def run_label(row: dict) -> str:
    """"name · method · seed n" (no seed for a run that trained nothing)."""
    return f"{row['run']} · {row['method']}" + ("" if row.get("seed") is None else f" · seed {row['seed']}")


def compare(current: Path | None) -> None:
    finished = [p for p in ws.list_runs() if metrics_of(p)]
    if len(finished) < 1:
        st.info("No finished runs yet. Train HPT and, for Table 3, its ablations on the same dataset and seed.",
                icon=":material/info:")
        return
    from hpt_core.experiments import comparison_table, dataset_of, low_resource_summary  # imports the training stack

    dataset = {p.name: dataset_of(runs.read_json(p / runs.RUN_CONFIG, {}) or {}) for p in finished}
    rows = {row["run"]: row for row in summaries(finished)}
    names = list(dict.fromkeys(dataset.values()))
    here = dataset.get(current.name) if current is not None else None
    follows = current.name if current is not None else None
    if st.session_state.get("cmp_dataset") not in names or st.session_state.get("cmp_follows") != follows:
        # Opened on the current run's dataset, and again whenever the sidebar picks another run.
        st.session_state["cmp_dataset"] = here if here in names else names[0]
        st.session_state["cmp_follows"] = follows
    # One dataset at a time: figures of different corpora or taxonomies are never put side by side.
    chosen_dataset = st.selectbox("Dataset", names, key="cmp_dataset",
                                  help="Runs are compared within one dataset (its taxonomy and train file).")
    candidates = [p.name for p in finished if dataset[p.name] == chosen_dataset]
    key = f"cmp_runs_{chosen_dataset}"
    chosen = st.multiselect("Runs", candidates, default=candidates[:10], key=key,
                            format_func=lambda n: run_label(rows[n]))
    if not chosen:
        st.caption("Pick runs to compare.")
        return
    split = st.segmented_control("Split", ["test", "dev"], default="test", key="cmp_split",
                                 help="Runs without test figures show dev ones (their row says so).") or "test"
    run_dirs = [ws.runs_dir / name for name in chosen]
    table = comparison_table(run_dirs, split)
    if table.empty:
        st.caption("No figures in these runs.")
        return
    # The reference is the user's choice; by default the best HPT run (never merely the first one).
    default = next(iter(table.loc[table["reference"], "run"]), None)
    listed = table["run"].tolist()
    reference_run = st.selectbox("Δ against", listed, index=listed.index(default) if default in listed else None,
                                 key=f"cmp_reference_{chosen_dataset}", placeholder="no reference: no Δ",
                                 format_func=lambda n: run_label(rows[n]),
                                 help="The run each Δ is taken against (default: the best HPT run here). "
                                      "Compare it with runs of the same settings: recipe, epochs, length, "
                                      "channel and blend are columns of the table.")
    table = comparison_table(run_dirs, split, reference_run=reference_run) if reference_run else \
        comparison_table(run_dirs, split, reference="")
    table.insert(table.columns.get_loc("method") + 1, "description",
                 [describe(m) if m in METHODS else "" for m in table["method"]])
    splits = sorted(set(table["split"]))
    st.markdown(f"**Ablations (Table 3) on {md(chosen_dataset)}**, {md(' and '.join(splits))} split: F1 in %"
                + (f"; Δ against {md(reference_run)} (first row)" if "delta_macro_f1" in table else
                   " (no reference run: no Δ)"))
    if len(splits) > 1:
        st.caption("Some runs have no test figures: they are grouped apart, on dev, each group with its own reference.")
    st.dataframe(table3(table), hide_index=True, key="cmp_table")
    st.download_button("Download comparison (CSV)", csv_bytes(table), file_name=f"comparison-{chosen_dataset}.csv",
                       mime="text/csv", icon=":material/download:", key="cmp_download", on_click="ignore")

    reports = {name: metrics_of(ws.runs_dir / name) for name in chosen}
    reports = {name: m.get(split) or m.get("dev") for name, m in reports.items()}
    left, right = st.columns(2)
    chart(viz.per_depth_figure({n: r["per_depth_macro_f1"] for n, r in reports.items() if r}),
          key="cmp_depth", where=left)
    chart(viz.quintile_figure({n: r["frequency_quintile_macro_f1"] for n, r in reports.items() if r}),
          key="cmp_quintile", where=right)

    st.markdown(f"**Low resource (Figure 4) on {md(chosen_dataset)}**: mean ± std over seeds, per method and "
                "training fraction; only runs that differ by their seed alone are averaged (the count says how many)")
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
