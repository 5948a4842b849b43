"""Train: configure and launch runs (each in its own process), follow them, see and cancel the queue."""

from pathlib import Path

import pandas as pd
import streamlit as st

from hpt_core import runs, viz
from hpt_core.config import PRECISIONS, HPTConfig, RunConfig, TrainConfig
from hpt_core.recipes import DEFAULT_RECIPE, RECIPES, pipeline_recipe, train_recipe
from hpt_core.errors import HPTInputError
from hpt_core.methods import ABLATIONS, BASELINES, METHODS, describe, has_label_words, resolve_method
from hpt_core.phases import phase_text
from hpt_core.tracking import check_tracker
from hpt_core.tracking import where as tracking_where
from app_pages._experiment_ui import experiment_launcher
from app_pages._shared import (PAGES, POLL_S, chart, current_dataset, current_run, device_in_use, device_text, eta_text,
                           md, running_phase, select_run, show_error, state_text, workspace)

ws = workspace()
st.title("Train")
MODEL, TRAIN = HPTConfig(), TrainConfig()


# ---- backbones ---------------------------------------------------------------------------------------------
@st.cache_data(ttl=300, show_spinner=False)
def hub_reachable() -> bool:
    """Whether huggingface.co answers within 3 s (name lookup included)."""
    import os
    import socket
    from concurrent.futures import ThreadPoolExecutor

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(lambda: socket.create_connection(("huggingface.co", 443), timeout=2).close()).result(timeout=3)
        return True
    except Exception:  # OSError, or the lookup did not finish in time
        return False
    finally:
        pool.shutdown(wait=False)


def in_hub_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # not a valid repo id, no cache
        return False


def check_backbone(choice: str, custom: str) -> str:
    """The backbone name for HPTConfig, or an HPTInputError saying why it cannot be used here."""
    if choice == "minilm":
        return "minilm"
    name = "bert-base-uncased" if choice == "bert-base-uncased" else custom.strip()
    if not name:
        raise HPTInputError("type a hub model name or a local folder")
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise HPTInputError("not a model folder (no config.json)", name)
        return str(folder.resolve())
    if name.startswith((".", "/", "~")):
        raise HPTInputError("folder not found", name)
    if not hub_reachable() and not in_hub_cache(name):
        raise HPTInputError(f"the Hugging Face hub is not reachable and {name!r} is not in the local cache; "
                            "use the bundled MiniLM or a local folder")
    return name


# ---- launching ----------------------------------------------------------------------------------------------
def chosen_value(where, label: str, options: dict, default, **widget):
    """A selectbox over ``options`` (shown label → value), starting at the label whose value is
    ``default``; returns the chosen label's value (``None`` included)."""
    return options[where.selectbox(label, list(options), index=list(options.values()).index(default), **widget)]


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.replace(";", ",").split(",") if s.strip()]
    except ValueError:
        raise HPTInputError(f"seeds must be whole numbers separated by commas, e.g. 1,2,3; got {text!r}") from None
    if not seeds or len(seeds) > 10 or len(set(seeds)) != len(seeds):
        raise HPTInputError("give one to ten different seeds")
    return seeds


ORDER = ABLATIONS + [m for m in METHODS if m not in ABLATIONS and m not in BASELINES] + BASELINES


def method_label(name: str) -> str:
    group = "Table 3 ablation" if name in ABLATIONS[1:] else "baseline" if name in BASELINES else ""
    return f"{name} — {describe(name)}" + (f" ({group})" if group else "")


with st.expander("New run", icon=":material/add_circle:", expanded=not ws.list_runs()):
    datasets = ws.dataset_names()
    # Outside the form so that choosing a recipe refills the hyperparameters below.
    recipe = st.segmented_control(
        "Recipe", list(RECIPES), default=DEFAULT_RECIPE, key="train_recipe",
        help=" · ".join(f"{name}: {r.description}" for name, r in RECIPES.items())
             + " (measured in docs/benchmarks.md)") or DEFAULT_RECIPE
    RECIPE = train_recipe(recipe)
    RECIPE_MODEL = HPTConfig(**RECIPES[recipe].model)
    RECIPE_PIPELINE = pipeline_recipe(recipe)
    with st.form("launch"):
        c1, c2 = st.columns(2)
        here = datasets.index(current_dataset()) if current_dataset() in datasets else 0
        dataset = c1.selectbox("Dataset", datasets, index=here)
        method = c2.selectbox("Method", ORDER, format_func=method_label,
                              help="HPT, each ablation row of the paper's Table 3, and the three baselines.")
        c1, c2 = st.columns(2)
        backbone_choice = c1.radio(
            "Backbone", ["minilm", "bert-base-uncased", "other"], horizontal=True,
            format_func={"minilm": "bundled MiniLM", "bert-base-uncased": "bert-base-uncased (hub)",
                         "other": "hub name or local folder"}.get)
        backbone_custom = c2.text_input("Hub name or local folder (for 'other')", key="train_backbone")
        st.markdown(f"**Hyperparameters** (recipe *{recipe}*; the paper's: Adam, learning rate 3e-5, batch size 16, "
                    "one GAT layer, early stop after 5 epochs without a better dev macro-F1)")
        c = st.columns(4)
        epochs = c[0].number_input("Epochs (max)", 1, 1000, TRAIN.epochs)
        batch_size = c[1].number_input("Batch size", 1, 512, TRAIN.batch_size)
        lr = c[2].number_input("Learning rate", 1e-7, 1.0, RECIPE.lr, format="%.1e", step=1e-5, key=f"lr_{recipe}")
        patience = c[3].number_input("Patience (epochs)", 1, 100, TRAIN.patience)
        c = st.columns(4)
        max_length = c[0].number_input("Max length (tokens)", 16, 512, MODEL.max_length)
        graph_layers = c[1].number_input("Graph layers K", 1, 8, MODEL.graph_layers)
        device = c[2].selectbox("Device", ["auto", "cpu", "cuda"], help=f"auto → {device_in_use()}")
        max_steps = c[3].number_input("Max steps (0 = no limit)", 0, 10_000_000, 0)
        c = st.columns(3)
        fraction = c[0].number_input("Low-resource fraction of train", 0.01, 1.0, 1.0, step=0.05,
                                     help="1 = all of train; 0.1 = the paper's low-resource setting (Figure 4)")
        seeds_text = c[1].text_input("Seeds", str(TRAIN.seed), help="Several seeds (1,2,3) launch several runs; they queue.")
        run_name = c[2].text_input("Run name (optional)", placeholder="default: method-dataset")
        with st.expander("More options"):
            c = st.columns(4)
            new_params_lr = c[0].number_input("LR of new parameters (0 = same)", 0.0, 1.0, RECIPE.new_params_lr or 0.0,
                                              format="%.1e", step=1e-4, key=f"new_lr_{recipe}")
            warmup = c[1].number_input("Warm-up ratio", 0.0, 0.5, RECIPE.warmup_ratio, step=0.05, key=f"warmup_{recipe}")
            schedule = c[2].selectbox("LR schedule", ["constant", "linear"], help="constant: the paper; linear: decays to 0")
            grad_accum = c[3].number_input("Gradient accumulation", 1, 64, TRAIN.grad_accum)
            c = st.columns(4)
            log_every = c[0].number_input("Log every (steps)", 1, 10_000, TRAIN.log_every)
            word_init = c[1].selectbox("Label words start from", ["name", "description"],
                                       help="the label's name (the paper) or its description, where the dataset has "
                                            "descriptions (the demo does)")
            encodings = ["embeddings", "encoder"]
            word_encoding = c[2].selectbox(
                "Label words encoded by", encodings, index=encodings.index(RECIPE_MODEL.label_word_encoding),
                key=f"encoding_{recipe}",
                help="embeddings: mean word embedding of the text (the paper); encoder: the backbone's pooled "
                     "encoding of it, centred among siblings")
            gate = c[3].number_input(
                "Text residual gate (0 = off)", 0.0, 100.0, RECIPE_MODEL.text_residual_gate or 0.0, step=1.0,
                key=f"gate_{recipe}",
                help="adds the mean text state, times a learned per-depth gate starting here, to each [PRED] "
                     "state; off in the paper")
            c = st.columns(4)
            channels = {"TF-IDF + sentence embedding": "tfidf+sentence", "TF-IDF": "tfidf", "none": None}
            lexical_channel = chosen_value(
                c[0], "Lexical channel", channels, RECIPE_PIPELINE.lexical_channel, key=f"lexical_{recipe}",
                help="adds the scores of a linear scorer over TF-IDF features of the whole text (and the frozen "
                     "backbone's sentence embedding of its start); the model trains to complement it "
                     "(docs/benchmarks.md). None in the paper")
            max_windows = c[1].number_input(
                "Windows per document (max)", 1, 64, MODEL.max_windows,
                help="1 reads the first window only (the paper); more read a long text as windows of "
                     "Max length tokens, overlapping by 64 (a quarter of a shorter window), whose scores are "
                     "pooled per label (max)")
            precision = c[2].selectbox(
                "Precision", list(PRECISIONS),
                help="auto: bf16 autocast on a GPU or on a CPU with native bfloat16 (AVX-512 BF16 / AMX), about "
                     "1.5× faster there; float32 elsewhere. The reported figures are always computed in float32")
            rules = {"chosen on dev": "auto", "scores > 0 (the paper)": "threshold", "one best path": "path",
                     "top-down paths (multi-path data)": "top_down"}
            decision = chosen_value(
                c[3], "Decision rule", rules, RECIPE_PIPELINE.decision, key=f"decision_{recipe}",
                help="how scores become labels: every label scoring above 0 (the paper), one best root-to-leaf path "
                     "per document, complete paths top-down (several where several children score above 0; for data "
                     "whose documents may have several paths), or whichever is best on dev when training ends")
            blends = {"with the classical classifier": "classical", "none": None}
            c = st.columns(2)
            fits = {"logistic (L-BFGS per fold)": "logistic", "ridge regression (exact folds)": "ridge",
                    "ridge regression, unscaled votes": "ridge-votes"}
            lexical_fit = chosen_value(
                c[1], "Lexical channel fitted by", fits, RECIPE_PIPELINE.lexical_fit, key=f"lexical_fit_{recipe}",
                help="logistic: HPT's loss by L-BFGS, refitted for each fold (the default); ridge: one-vs-rest "
                     "ridge regression whose out-of-fold scores are exact in closed form — seconds where the "
                     "logistic fit takes minutes, a stronger channel alone, but a lower model beside it on "
                     "Amazon-531's dev; unscaled votes: the ridge's scores left on their ±1 scale. "
                     "docs/benchmarks.md, A lexical channel in closed form")
            blend = chosen_value(
                c[0], "Blend", blends, RECIPE_PIPELINE.blend, key=f"blend_{recipe}",
                help="after training, mix the model's scores with the probabilities of the one-minute classical "
                     "classifier (TF-IDF + the pretrained encoder's sentence embeddings of the first 128 tokens into a "
                     "logistic regression), the model's weight chosen on dev. Costs one more (128-token) encoder pass "
                     "per document when predicting. "
                     "None in the paper")
            trackers = {"none": None, "TensorBoard": "tensorboard", "MLflow": "mlflow"}
            report_to = chosen_value(
                st, "Also track in", trackers, None, key="train_report_to",
                help="copy the configuration, losses, learning rate and dev figures to TensorBoard (event files in the "
                     "run folder's tracking/) or MLflow (MLFLOW_TRACKING_URI, else the run folder's mlruns/); needs "
                     "pip install tensorboard or mlflow-skinny. The run page says where")
        launch = st.form_submit_button("Launch", type="primary", icon=":material/play_arrow:")

    if launch:
        try:
            if device == "cuda" and not device_in_use().startswith("GPU"):
                raise HPTInputError("no CUDA GPU is visible on this machine; choose auto or cpu")
            backbone = check_backbone(backbone_choice, backbone_custom)
            check_tracker(report_to)  # a missing package, said before anything is queued
            seeds = parse_seeds(seeds_text)
            data = ws.dataset_files(dataset)
            label_word_options = {"label_word_encoding": word_encoding, "text_residual_gate": float(gate) or None}
            model = resolve_method(method, recipe=recipe, backbone=backbone, max_length=int(max_length),
                                   graph_layers=int(graph_layers), label_word_init=word_init,
                                   max_windows=int(max_windows),
                                   # windows overlap by 64 tokens, or a quarter of a short window
                                   window_overlap=min(MODEL.window_overlap, int(max_length) // 4),
                                   **(label_word_options if has_label_words(method) else {}))
            pipeline = pipeline_recipe(recipe, lexical_channel=lexical_channel, decision=decision, blend=blend,
                                       lexical_fit=lexical_fit)
            launched = []
            for seed in seeds:
                train = TrainConfig(
                    epochs=int(epochs), batch_size=int(batch_size), lr=float(lr), patience=int(patience),
                    seed=seed, low_resource=None if fraction >= 1.0 else float(fraction), device=device,
                    max_steps=int(max_steps) or None, new_params_lr=float(new_params_lr) or None,
                    warmup_ratio=float(warmup), schedule=schedule, grad_accum=int(grad_accum), log_every=int(log_every),
                    precision=precision, report_to=report_to)
                base = run_name.strip() or f"{method}-{dataset}" + (f"-{fraction:g}" if fraction < 1.0 else "")
                name = f"{base}-seed{seed}" if len(seeds) > 1 else base
                run_dir = ws.new_run(RunConfig(data=data, model=model, train=train, name=name, pipeline=pipeline), name)
                runs.launch(run_dir)
                launched.append(run_dir.name)
        except (HPTInputError, OSError, RuntimeError) as err:  # bad settings, or the job could not start
            show_error(err, "Not launched")
        else:
            select_run(launched[0])
            st.session_state["train_note"] = f"Launched {', '.join(md(n) for n in launched)}."
            st.rerun()

experiment_launcher()  # methods × seeds × fractions as one queued experiment

if "train_note" in st.session_state:
    st.success(st.session_state.pop("train_note"), icon=":material/rocket_launch:")


# ---- the queue --------------------------------------------------------------------------------------------
eta = eta_text


def show_queue() -> None:
    st.subheader("Queue")
    jobs = ws.active_jobs()
    if not jobs:
        st.caption(f"No job is running or queued. Jobs run one at a time per device ({md(device_in_use())} here); "
                   "a launch while one runs waits in this queue.")
        return
    rows = []
    for position, (run_dir, status) in enumerate(jobs, start=1):
        progress = runs.run_progress(run_dir)
        phase = running_phase(progress) if status.get("state") == "running" else None
        rows.append({"#": position, "run": run_dir.name, "state": state_text(status, progress),
                     "device": device_text(status),
                     "step": f"{progress.get('step', 0)}/{progress.get('total_steps', '?')}" if progress else "",
                     "ETA": eta(progress.get("eta_s")) if phase in ("training", "phase") else ""})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("One job per device: queued jobs start, in this order, when the device is free.")


# ---- following one run -----------------------------------------------------------------------------------
def follow(run_dir: Path, was_active: bool) -> None:
    if not run_dir.is_dir():
        st.warning(f"The run folder **{md(run_dir.name)}** no longer exists.", icon=":material/warning:")
        return
    status = runs.run_status(run_dir)
    state = status.get("state", "new")
    progress = runs.run_progress(run_dir)
    history = runs.run_history(run_dir)
    if was_active and state not in runs.ACTIVE_STATES:
        st.rerun()  # finished, failed or cancelled since the last poll: refresh the whole page once
    st.subheader(f"Run {md(run_dir.name)}")
    phase = running_phase(progress) if state == "running" else None
    c = st.columns(4)
    c[0].metric("State", state)
    c[1].metric("Device", device_text(status))
    best = progress.get("best_dev_macro_f1")
    c[2].metric("Best dev macro-F1", f"{100 * best:.2f}" if best is not None and best >= 0 else "—")
    # An ETA only while steps remain: evaluation has none, and a finished or stopped run needs none.
    c[3].metric("ETA", eta(progress.get("eta_s")) if phase in ("training", "phase") else
                "evaluating" if phase == "evaluating" else "—")
    if state == "queued":
        ahead = [p.name for p, s in ws.active_jobs() if s.get("state") == "running"]
        st.info("Queued: waiting for the device" + (f" ({md(', '.join(ahead))} is running)." if ahead else "."),
                icon=":material/hourglass_top:")
    total = progress.get("total_steps") or 0
    step = progress.get("step") or 0
    where = f"epoch {progress.get('epoch', '?')} · step {step}/{total}"
    if state == "running" and phase == "phase":  # the lexical fits, tokenising, the blend's grid, the final scoring
        st.progress(min(1.0, (progress.get("done") or 0) / max(progress.get("total") or 1, 1)), text=phase_text(progress))
    elif state == "running" and phase == "starting":
        st.progress(0.0, text="starting (loading the data and the backbone)…")
    elif total:
        fraction = min(1.0, step / total) if state != "completed" else 1.0
        if phase == "training":
            text = f"{where} · {progress.get('docs_per_s', 0):.1f} docs/s · ETA {eta(progress.get('eta_s'))}"
        elif phase == "evaluating":
            text = f"{where} · evaluating on dev/test…"
        else:
            text = f"{where} · {state}"
        st.progress(fraction, text=text)
    if status.get("error"):
        st.error(f"Failed: {md(status['error'])}", icon=":material/error:")
    tracked = tracking_where(run_dir, ((runs.read_json(run_dir / runs.RUN_CONFIG, {}) or {}).get("train") or {}).get("report_to"))
    if tracked:
        st.caption(f"Tracked too — {md(tracked)}")
    if history:
        left, right = st.columns(2)
        chart(viz.loss_figure(history), key=f"loss_{run_dir.name}", where=left)
        chart(viz.dev_curves_figure({run_dir.name: history}), key=f"dev_{run_dir.name}", where=right)
    with st.expander("Log (last 30 lines)", expanded=state == "failed"):
        st.code(runs.log_tail(run_dir, 30) or "(empty)", language=None)
    if state in runs.ACTIVE_STATES:
        if st.button("Cancel this run", icon=":material/cancel:", key=f"cancel_{run_dir.name}"):
            runs.cancel(run_dir, grace_s=5.0)
            st.rerun()
        return
    if state == "completed":
        st.page_link(PAGES["results"], label="See its results", icon=":material/analytics:")
    c1, c2 = st.columns(2)
    if state in ("failed", "cancelled", "interrupted"):
        # Launching the same folder again resumes after its last finished epoch.
        if c1.button("Retry (resume from the last epoch)", icon=":material/replay:", key=f"retry_{run_dir.name}"):
            try:
                runs.launch(run_dir)
            except (OSError, RuntimeError) as err:
                show_error(err, "Not relaunched")
            else:
                st.session_state["train_note"] = f"Relaunched {md(run_dir.name)}."
                st.rerun()
    with c2.popover("Delete this run", icon=":material/delete:"):
        st.caption("Removes the folder with its model and figures; this cannot be undone.")
        if st.button("Delete for good", type="primary", key=f"delete_{run_dir.name}"):
            try:
                runs.delete_run(run_dir)
            except (OSError, RuntimeError) as err:
                show_error(err, "Not deleted")
            else:
                st.session_state["train_note"] = f"Deleted {md(run_dir.name)}."
                st.rerun()


def live(run_dir: Path | None, polling: bool, was_active: bool) -> None:
    if polling and not ws.active_jobs():
        st.rerun()  # the queue emptied since the last poll: stop polling
    show_queue()
    if run_dir is None:
        st.info("No run yet: open **New run** above, pick the demo dataset and HPT, and launch.", icon=":material/info:")
    else:
        st.caption("Showing the current run (change it in the sidebar).")
        follow(run_dir, was_active)


run_dir = current_run()
polling = bool(ws.active_jobs())
was_active = run_dir is not None and runs.run_status(run_dir).get("state") in runs.ACTIVE_STATES
st.fragment(live, run_every=POLL_S if polling else None)(run_dir, polling, was_active)
