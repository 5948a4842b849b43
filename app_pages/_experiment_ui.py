"""One-click experiments: launched from the Train page (methods × seeds × training fractions as one named
job that queues its runs; cancel and resume as a whole), shown on the Results page as Table 3 (mean ± std
over seeds, Δ to HPT) and Figure 4 (F1 against the training fraction, error bars).

The definition is ``hpt_core.experiments.Experiment``, the same the CLI's ablate and low-resource use.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from hpt_core import runs
from hpt_core.config import TrainConfig
from hpt_core.recipes import DEFAULT_RECIPE, RECIPES
from hpt_core.errors import HPTInputError
from hpt_core.methods import METHODS
from hpt_core.estimates import duration_words
from app_pages._shared import PLOT_CONFIG, csv_bytes, current_dataset, device_in_use, md, show_error, workspace


def experiments_root() -> Path:
    return workspace().root / "experiments"


def _numbers(text: str, kind, what: str) -> list:
    try:
        values = [kind(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise HPTInputError(f"{what} must be numbers separated by commas; got {text!r}") from None
    if not values:
        raise HPTInputError(f"give at least one of the {what}")
    return values


#: Experiments estimated above this many seconds ask for a confirmation before they launch.
CONFIRM_ABOVE_S = 3600


@st.cache_data(show_spinner=False, max_entries=16)
def _train_tokens(dataset: str, max_length: int, _version: float) -> tuple[int, int]:
    """Approximate tokens and the number of documents of a dataset's train split (cached per file version)."""
    from hpt_core.data import read_corpus
    from hpt_core.estimates import approximate_tokens
    from hpt_core.hierarchy import LabelHierarchy

    files = workspace().dataset_files(dataset)
    docs = read_corpus(files.train, LabelHierarchy.read(files.taxonomy))
    return approximate_tokens([d.text for d in docs], max_length), len(docs)


def experiment_cost(spec, dataset: str) -> tuple[int, float, str]:
    """The run count, the estimated seconds and where the speed comes from, of an experiment on ``dataset``."""
    from hpt_core.estimates import measured_speed

    files = workspace().dataset_files(dataset)
    tokens, n_docs = _train_tokens(dataset, int(spec.model_overrides.get("max_length", 256)),
                                   Path(files.train).stat().st_mtime)
    device = device_in_use()
    speed = measured_speed(workspace().list_runs(), device, spec.model_overrides.get("backbone", "minilm"))
    return len(spec.plan()), spec.estimate_seconds(tokens, n_docs, speed, on_cpu=device.startswith("CPU")), speed.source


def experiment_launcher() -> None:
    """The Train page's "New experiment" form and the list of experiments (state, cancel, resume)."""
    from hpt_core.experiments import DEFAULT_METHODS, Experiment, launch_experiment, method_description
    from hpt_core.zero_shot import ZERO_SHOT

    ws = workspace()
    with st.expander("New experiment: methods × seeds × training fractions, in one click",
                     icon=":material/science:"):
        # Not a form: the run count and the time estimate follow every change, before anything launches.
        c1, c2 = st.columns(2)
        name = c1.text_input("Experiment name", key="exp_name", placeholder="e.g. table3-demo")
        datasets = ws.dataset_names()
        here = datasets.index(current_dataset()) if current_dataset() in datasets else 0
        dataset = c2.selectbox("Experiment dataset", datasets, index=here, key="exp_dataset")
        methods = st.multiselect("Methods", [*METHODS, ZERO_SHOT], default=DEFAULT_METHODS, key="exp_methods",
                                 format_func=lambda m: f"{m} — {method_description(m)}",
                                 help="Default: the rows of Table 3, the baselines and the zero-shot predictor.")
        c = st.columns(4)
        seeds = c[0].text_input("Experiment seeds", "1,2,3", key="exp_seeds")
        fractions = c[1].text_input("Training fractions", "0.1,1.0", key="exp_fractions",
                                    help="shares of train (1.0 = all of it; Figure 4 uses several)")
        recipe = c[2].selectbox("Experiment recipe", list(RECIPES), index=list(RECIPES).index(DEFAULT_RECIPE),
                                key="exp_recipe")
        backbone = c[3].text_input("Experiment backbone", "minilm", key="exp_backbone",
                                   help="'minilm' (bundled) or a local folder")
        c = st.columns(4)
        epochs = c[0].number_input("Epochs per run (max)", 1, 1000, TrainConfig.epochs, key="exp_epochs")
        batch = c[1].number_input("Batch size per run", 1, 512, TrainConfig.batch_size, key="exp_batch")
        max_length = c[2].number_input("Max length per run (tokens)", 16, 512, 256, key="exp_max_length")
        max_steps = c[3].number_input("Max steps per run (0 = no limit)", 0, 10_000_000, 0, key="exp_max_steps")
        spec, problem = None, None
        try:
            from hpt_core.recipes import train_recipe

            train = train_recipe(recipe, epochs=int(epochs), batch_size=int(batch), max_steps=int(max_steps) or None)
            spec = Experiment(name=name.strip() or "unnamed", data=ws.dataset_files(dataset), methods=list(methods),
                              seeds=_numbers(seeds, int, "seeds"), fractions=_numbers(fractions, float, "fractions"),
                              recipe=recipe, train=train,
                              model_overrides={"backbone": backbone.strip() or "minilm", "max_length": int(max_length)})
        except (HPTInputError, OSError) as err:
            problem = err
        long_job = False
        if spec is not None and spec.methods:
            n_runs, seconds, source = experiment_cost(spec, dataset)
            long_job = seconds > CONFIRM_ABOVE_S
            st.markdown(f"**{n_runs} run{'s' if n_runs != 1 else ''}**, {duration_words(seconds)} one after the other "
                        f"on {md(device_in_use())}")
            st.caption(f"Estimated from the training tokens of each run (the recipe's CPU budget and the step "
                       f"limit included) at this device's speed — {md(source)}.")
        confirmed = True
        if long_job:
            confirmed = st.checkbox(f"Yes, queue {duration_words(seconds).removeprefix('about ')} of work",
                                    key="exp_confirm", help="Asked for experiments estimated above an hour.")
        launch = st.button("Launch experiment", type="primary", icon=":material/play_arrow:", key="exp_launch")
        if launch:
            if problem is not None or spec is None:
                show_error(problem or HPTInputError("choose at least one method"), "Experiment not launched")
            elif not name.strip():
                show_error(HPTInputError("name the experiment"), "Experiment not launched")
            elif not confirmed:
                st.warning("Not launched: tick the box above to confirm the estimated time.", icon=":material/schedule:")
            else:
                try:
                    exp_dir = launch_experiment(spec, ws.runs_dir, experiments_root())
                except (HPTInputError, OSError, RuntimeError) as err:
                    show_error(err, "Experiment not launched")
                else:
                    n_runs = len(spec.plan())
                    st.success(f"Launched **{md(exp_dir.name)}**: {n_runs} run{'s' if n_runs != 1 else ''} queued.",
                               icon=":material/rocket_launch:")
    experiments_list()


def experiments_list() -> None:
    from hpt_core.experiments import (cancel_experiment, experiment_progress, experiment_state, list_experiments,
                                      start_experiment)

    found = list_experiments(experiments_root())
    if not found:
        return
    st.markdown("**Experiments**")
    for exp_dir in found:
        state = experiment_state(exp_dir)
        counts = experiment_progress(exp_dir)
        c = st.columns([3, 4, 2])
        c[0].markdown(f"**{md(exp_dir.name)}** · {md(state)}")
        c[1].caption(", ".join(f"{n} {md(s)}" for s, n in sorted(counts.items())))
        if state in runs.ACTIVE_STATES:
            if c[2].button("Cancel experiment", key=f"exp_cancel_{exp_dir.name}", icon=":material/cancel:"):
                cancel_experiment(exp_dir, grace_s=5.0)
                st.rerun()
        elif counts.get("completed", 0) < sum(counts.values()):
            if c[2].button("Resume experiment", key=f"exp_resume_{exp_dir.name}", icon=":material/replay:"):
                try:
                    start_experiment(exp_dir)
                except RuntimeError as err:
                    show_error(err, "Not resumed")
                st.rerun()


def pm(mean, std) -> str:
    if mean != mean:  # NaN
        return "—"
    return f"{mean:.2f}" + (f" ± {std:.2f}" if std == std else "")


def table3(summary: pd.DataFrame) -> pd.DataFrame:
    """The experiment's Table 3 as text cells: mean ± std over seeds and the Δ of the means to HPT."""
    rows = []
    for _, r in summary.iterrows():
        rows.append({"method": r["method"], "fraction": r["fraction"], "seeds": int(r["micro_f1_count"]),
                     "micro-F1": pm(r["micro_f1_mean"], r["micro_f1_std"]),
                     "macro-F1": pm(r["macro_f1_mean"], r["macro_f1_std"]),
                     "Δ micro-F1": "—" if r["delta_micro_f1"] != r["delta_micro_f1"] else f"{r['delta_micro_f1']:+.2f}",
                     "Δ macro-F1": "—" if r["delta_macro_f1"] != r["delta_macro_f1"] else f"{r['delta_macro_f1']:+.2f}"})
    return pd.DataFrame(rows)


def fraction_figure(summary: pd.DataFrame, figure: str = "macro_f1") -> go.Figure:
    """Figure 4: F1 (%) against the training fraction, one line per method, error bars = std over seeds."""
    fig = go.Figure()
    for method, group in summary.groupby("method", sort=False):
        group = group.sort_values("fraction")
        std = [0.0 if s != s else float(s) for s in group[f"{figure}_std"]]
        fig.add_trace(go.Scatter(x=[100 * f for f in group["fraction"]], y=list(group[f"{figure}_mean"]),
                                 name=str(method), mode="lines+markers",
                                 error_y=dict(type="data", array=std, visible=True),
                                 hovertemplate="%{x:g}% of train: %{y:.2f} ± %{error_y.array:.2f}<extra>"
                                               + str(method).replace("<", "&lt;") + "</extra>"))
    fig.update_layout(title=f"{figure.replace('_f1', '-F1')} against the share of training data (Figure 4)",
                      xaxis_title="training documents (% of train)", yaxis_title="F1 (%)", height=400,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis_type="log" if summary["fraction"].nunique() > 2 else None)
    return fig


def experiment_results() -> None:
    """The Results page's Experiments tab."""
    from hpt_core.experiments import experiment_progress, experiment_state, experiment_summary, list_experiments

    found = list_experiments(experiments_root())
    if not found:
        st.info("No experiments yet: launch one on the Train page (New experiment).", icon=":material/info:")
        return
    names = [p.name for p in found]
    name = st.selectbox("Experiment", names, key="exp_pick")
    exp_dir = experiments_root() / name
    counts = experiment_progress(exp_dir)
    st.caption(f"State: {md(experiment_state(exp_dir))} · runs: "
               + ", ".join(f"{n} {md(s)}" for s, n in sorted(counts.items())))
    split = st.segmented_control("Split ", ["test", "dev"], default="test", key="exp_split") or "test"
    try:
        summary = experiment_summary(exp_dir, split)
    except HPTInputError as err:
        show_error(err, "Cannot read the experiment")
        return
    if summary.empty:
        st.caption("No finished runs yet; the table fills in as they finish.")
        return
    st.markdown("**Table 3**: F1 in %, mean ± std over seeds; Δ: difference of the means to HPT at the same fraction")
    table = table3(summary)
    st.dataframe(table, hide_index=True)
    st.download_button("Download the experiment table (CSV)", csv_bytes(summary), file_name=f"{name}-{split}.csv",
                       mime="text/csv", key="exp_download", icon=":material/download:", on_click="ignore")
    figure = st.segmented_control("Figure 4 shows", ["macro_f1", "micro_f1"], default="macro_f1", key="exp_figure",
                                  format_func=lambda f: f.replace("_f1", "-F1")) or "macro_f1"
    st.plotly_chart(fraction_figure(summary, figure), key="exp_fig4", config=PLOT_CONFIG)
