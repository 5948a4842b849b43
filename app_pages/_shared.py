"""What every page shares: the workspace, the sidebar (current dataset, current run), cached loaders.

No torch here or in any page: models are loaded through ``hpt_core.predict`` inside
``st.cache_resource`` functions, keyed on the run folder and the model's modification time, so a
retrained run is reloaded and a deleted one is noticed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import streamlit as st

from hpt_core import runs
from hpt_core.errors import HPTInputError
from hpt_core.phases import PHASE, duration_text, phase_text
from hpt_core.uploads import MAX_UPLOAD_BYTES
from hpt_core.workspace import DEMO, Workspace, run_summary

DATASET_KEY = "current_dataset"
RUN_KEY = "current_run"
_NEXT = "_next_"
_URL = {DATASET_KEY: "dataset", RUN_KEY: "run"}  # query parameters
_FOLLOWED = "_dataset_followed_run"  # the run whose dataset the sidebar last made current

#: Plotly options: the small charts need no mode bar (it would cover their titles); the tree keeps
#: its zoom and pan buttons.
PLOT_CONFIG = {"displaylogo": False, "displayModeBar": False}
TREE_CONFIG = {"displaylogo": False}

PAGES = {
    "home": "app_pages/home.py",
    "data": "app_pages/data.py",
    "train": "app_pages/train.py",
    "results": "app_pages/results.py",
    "predict": "app_pages/predict.py",
    "label_words": "app_pages/label_words.py",
    "label": "app_pages/label.py",
}


def workspace() -> Workspace:
    """The workspace of this app (``$HPT_WORKSPACE`` or ``./workspace``; upload limit ``$HPT_MAX_UPLOAD_MB``)."""
    try:
        limit = int(float(os.environ.get("HPT_MAX_UPLOAD_MB", "")) * 2**20)
    except ValueError:
        limit = MAX_UPLOAD_BYTES
    return Workspace(max_upload_bytes=limit)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=^\"'])")


def md(text: object) -> str:
    """User text as literal Markdown: every Markdown/Streamlit control character backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def show_error(err: Exception, what: str = "") -> None:
    """An input problem shown inline: file, line and reason (escaped: file names are user data)."""
    prefix = f"{what}: " if what else ""
    if isinstance(err, HPTInputError):
        where = ""
        if err.file:
            where = f"**{md(err.file)}**" + (f", line {err.line}" if err.line else "") + " — "
        elif err.line:
            where = f"line {err.line} — "
        st.error(f"{md(prefix)}{where}{md(err.problem)}", icon=":material/error:")
    else:
        st.error(f"{md(prefix)}{md(type(err).__name__)}: {md(err)}", icon=":material/error:")


# ---- current dataset and run -----------------------------------------------------------------------


def select_dataset(name: str) -> None:
    """Make ``name`` the current dataset from the next script run on (call ``st.rerun()`` after)."""
    st.session_state[_NEXT + DATASET_KEY] = name


def select_run(name: str) -> None:
    st.session_state[_NEXT + RUN_KEY] = name


#: Page widgets whose state outlives a visit to another page: Streamlit forgets a widget's state
#: when a run does not draw it, so the error browser closed after a trip to the Label page and back.
KEPT_ACROSS_PAGES = ("err_on", "err_kind")


def adopt_files_form(run_dir: Path, key: str) -> None:
    """For a run trained on files outside the workspace (a CLI run): make them a workspace dataset
    (``Workspace.adopt_run_data``), so labels can be added and corrected for it; reruns the page."""
    ws = workspace()
    with st.form(f"{key}_adopt"):
        name = st.text_input("Dataset name for its files", value=re.sub(r"[^A-Za-z0-9_-]", "-", run_dir.name)[:56] + "-data",
                             key=f"{key}_adopt_name", help="The run's tree and its train/dev/test files become this "
                                                           "workspace dataset, and the run reads them from there "
                                                           "(the same documents).")
        if st.form_submit_button("Make them a workspace dataset", icon=":material/drive_folder_upload:"):
            try:
                with st.spinner("Reading the run's files…"):
                    adopted = ws.adopt_run_data(run_dir, name.strip())
            except HPTInputError as err:
                show_error(err, "Not adopted")
            else:
                select_dataset(adopted)
                st.rerun()


def keep_across_pages() -> None:
    """Re-assign ``KEPT_ACROSS_PAGES`` so that leaving their page does not clear them (Streamlit's
    documented way to keep a widget's value when it is not drawn)."""
    for key in KEPT_ACROSS_PAGES:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def _dataset_follows_run(ws: Workspace, names: list[str], keep_dataset: bool = False) -> None:
    """When the current run changes (chosen in the sidebar or on a page, a fresh session's default,
    a link), the dataset it was trained on becomes the current one: the sidebar never shows one
    dataset beside a run trained on another, and pages that write to "the current dataset" write to
    the run's. A dataset named in the same breath (``keep_dataset``: a link's ``?dataset=``, a page's
    choice) wins, and choosing another dataset afterwards, with the same run, is left alone."""
    name = st.session_state.get(RUN_KEY)
    if not name or st.session_state.get(_FOLLOWED) == name:
        return
    st.session_state[_FOLLOWED] = name
    if keep_dataset:
        return
    dataset = ws.dataset_of_run(ws.runs_dir / name)
    if dataset in names:
        st.session_state[DATASET_KEY] = dataset


def sidebar() -> None:
    """The shared sidebar: current dataset, current run, the job queue at a glance."""
    keep_across_pages()
    ws = workspace()
    names = ws.dataset_names()
    run_names = [p.name for p in ws.list_runs()]
    # Precedence: a choice made on a page (select_*), this session's choice, the URL (?dataset=…&run=…,
    # so a reload or a shared link shows the same), then the defaults.
    explicit = set()  # chosen on a page or given by the URL in this run: a run's dataset must not override it
    for key, options in ((DATASET_KEY, names), (RUN_KEY, run_names)):
        pending = st.session_state.pop(_NEXT + key, None)
        if pending in options:
            st.session_state[key] = pending
            explicit.add(key)
        elif st.session_state.get(key) not in options and st.query_params.get(_URL[key]) in options:
            st.session_state[key] = st.query_params[_URL[key]]
            explicit.add(key)
    jobs = ws.active_jobs()
    if st.session_state.get(DATASET_KEY) not in names:
        st.session_state[DATASET_KEY] = DEMO
    if st.session_state.get(RUN_KEY) not in run_names:
        # A fresh session (a second tab) follows the running job, else the newest run.
        st.session_state[RUN_KEY] = ([p.name for p, _ in jobs] or run_names or [None])[0]
    _dataset_follows_run(ws, names, keep_dataset=DATASET_KEY in explicit)
    with st.sidebar:
        st.selectbox("Current dataset", names, key=DATASET_KEY,
                     format_func=lambda n: "demo (bundled)" if n == DEMO else n,
                     help="Upload or delete datasets on the Data page.")
        if run_names:
            # Plain names as options: a label that changes with the run's state would change the widget.
            name = st.selectbox("Current run", run_names, key=RUN_KEY,
                                help="Results, Predict and Label words show this run; choosing one makes "
                                     "the dataset it was trained on current.")
            # Polled as often as the Train page's live panel, so the two never disagree for long.
            st.fragment(_sidebar_state, run_every=POLL_S if jobs else None)(ws.runs_dir / name)
        else:
            st.caption("No runs yet: launch one on the Train page.")
    for key in (DATASET_KEY, RUN_KEY):
        value = st.session_state.get(key)
        if value and st.query_params.get(_URL[key]) != value:
            st.query_params[_URL[key]] = value


def _sidebar_state(run_dir: Path) -> None:
    status = runs.run_status(run_dir)
    st.caption(f"State: {md(state_text(status, runs.run_progress(run_dir)))}")
    jobs = workspace().active_jobs()
    if jobs:
        running = sum(1 for _, s in jobs if s.get("state") == "running")
        st.caption(f":material/hourglass_top: {running} running, {len(jobs) - running} queued")


# ---- how a run's state is written: one wording everywhere ------------------------------------------

POLL_S = 2.0


def device_text(status: dict) -> str:
    """The device of a run in one wording: the running job's own description ("CPU (2 cores)",
    "GPU: …"), or for a queued job the device it waits for in the same words."""
    if status.get("device"):
        return str(status["device"])
    queued_for = status.get("queued_for")
    if queued_for:
        try:
            here = device_in_use()
        except Exception:  # no torch: say the kind only
            here = ""
        if queued_for == "cpu":
            return here if here.startswith("CPU") else "CPU"
        return here if here.startswith("GPU") else "GPU"
    return "—"


def eta_text(seconds) -> str:
    return duration_text(seconds)


def state_text(status: dict, progress: dict) -> str:
    """One line for a run's state that agrees with its files: ``queued (waiting for the device)``,
    ``starting (loading the data and the backbone)``, ``training, ETA 3m 05s``, ``evaluating``, or the
    final state (no ETA once it is over)."""
    state = status.get("state", "new")
    if state == "queued":
        position = status.get("queue_position")
        return f"queued · {'next' if position == 1 else f'number {position}'} in line for the device" if position \
            else "queued (waiting for the device)"
    if state == "running":
        phase = running_phase(progress)
        if phase == "phase":  # a long step around training: what it does, k of n, ETA
            return f"running · {phase_text(progress)}"
        if phase == "starting":
            return "starting (loading the data and the backbone)"
        if phase == "evaluating":
            return "running · evaluating on dev/test"
        return f"running · ETA {eta_text(progress.get('eta_s'))}"
    return state


def running_phase(progress: dict) -> str:
    """``phase`` while one of the long steps around training reports its progress (the lexical
    channel's fits, tokenising, the blend's grid, the final evaluation: ``hpt_core.phases``),
    ``starting`` before the first logged step, ``evaluating`` once the steps of the run (or of its
    epoch, at an epoch's end) are done and the dev evaluation runs, else ``training``."""
    if progress.get("kind") == PHASE:
        return "phase"
    if not progress or not progress.get("total_steps"):
        return "starting"
    step, total = progress.get("step") or 0, progress.get("total_steps") or 0
    eta = progress.get("eta_s")
    if step >= total or (progress.get("kind") == "step" and eta is not None and eta < 1):
        return "evaluating"
    return "training"


def current_dataset() -> str:
    return st.session_state.get(DATASET_KEY) or DEMO


def current_run() -> Path | None:
    name = st.session_state.get(RUN_KEY)
    return workspace().runs_dir / name if name else None


def require_run(need_model: bool = True) -> Path:
    """The current run folder, or a note saying what to do next (and the page stops there)."""
    run_dir = current_run()
    if run_dir is None:
        st.info("No run yet. Train one on the Train page, then come back here.", icon=":material/info:")
        st.page_link(PAGES["train"], label="Go to Train", icon=":material/model_training:")
        st.stop()
    if not run_dir.is_dir():
        st.warning(f"The run folder **{md(run_dir.name)}** no longer exists (deleted while the app was open). "
                   "Pick another run in the sidebar.", icon=":material/warning:")
        st.stop()
    if need_model and not (run_dir / runs.MODEL_DIR / "model.safetensors").is_file():
        state = runs.run_status(run_dir).get("state", "new")
        st.info(f"Run **{md(run_dir.name)}** has no trained model yet (state: {md(state)}). "
                "Follow it on the Train page, or pick a finished run in the sidebar.", icon=":material/info:")
        st.page_link(PAGES["train"], label="Go to Train", icon=":material/model_training:")
        st.stop()
    return run_dir


def runs_with_models() -> list[Path]:
    return [p for p in workspace().list_runs() if (p / runs.MODEL_DIR / "model.safetensors").is_file()]


@st.cache_data(max_entries=64, show_spinner=False)
def _taxonomy_of(model_dir: str, stamp: int):
    """(labels and edges of the run's saved hierarchy, whether its method has label words)."""
    from hpt_core.methods import has_label_words

    tree = runs.read_json(Path(model_dir) / "hierarchy.json", {}) or {}
    config = runs.read_json(Path(model_dir) / "config.json", {}) or {}
    shape = json.dumps({k: v for k, v in tree.items() if k != "descriptions"}, sort_keys=True)
    return shape, has_label_words((config.get("hpt") or config).get("method") or "hpt")


def same_taxonomy(run_dir: Path, other: Path) -> bool:
    """Whether ``other``'s model has learned label words on the same label tree as ``run_dir``'s."""
    a, b = run_dir / runs.MODEL_DIR, other / runs.MODEL_DIR
    mine, _ = _taxonomy_of(str(a), _stamp(a / "hierarchy.json"))
    theirs, words = _taxonomy_of(str(b), _stamp(b / "hierarchy.json"))
    return words and bool(mine) and mine == theirs


def summaries(run_dirs) -> list[dict]:
    return [run_summary(p) for p in run_dirs]


# ---- cached loaders ----------------------------------------------------------------------------------


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_resource(max_entries=6, show_spinner="Loading the dataset…")
def _dataset(root: str, name: str, stamp: int):
    return Workspace(root).load_dataset(name)


def load_dataset(name: str):
    """The dataset (cached until its folder changes). Raises HPTInputError when it cannot be read."""
    ws = workspace()
    return _dataset(str(ws.root), name, _stamp(ws.dataset_dir(name)))


@st.cache_resource(show_spinner=False)
def device_in_use() -> str:
    """What training would use, e.g. "GPU: NVIDIA H100" or "CPU (2 cores)" (imports torch once)."""
    from hpt_core.devices import device_description

    return device_description()


def model_stamp(run_dir: Path) -> int:
    """When the run's model last changed (a cache key): its weights' file, or for a zero-shot run
    (no weights: label names against the text) its evaluated settings in metrics.json."""
    stamp = _stamp(run_dir / runs.MODEL_DIR / "model.safetensors")
    if not stamp and runs.is_zero_shot_run(run_dir):
        stamp = _stamp(run_dir / runs.METRICS) or _stamp(run_dir / runs.ZERO_SHOT_CONFIG)
    if not stamp:
        raise HPTInputError("this run has no trained model (model/ is missing)", run_dir.name)
    return stamp


@st.cache_resource(max_entries=3, show_spinner="Loading the model…")
def _predictor(run_dir: str, stamp: int):
    from hpt_core.predict import Predictor

    return Predictor.from_run(run_dir, device="cpu")


def predictor(run_dir: Path):
    """The run's best model, ready to predict (cached per run folder and model file time)."""
    return _predictor(str(run_dir), model_stamp(run_dir))


def require_predictor():
    """``(run_dir, predictor)`` of the current run, or a note on what went wrong (and the page stops)."""
    run_dir = require_run()
    try:
        return run_dir, predictor(run_dir)
    except Exception as err:  # deleted or damaged model folder: say so, never crash the page
        show_error(err, "Cannot load this run's model")
        st.stop()


@st.cache_data(max_entries=4, show_spinner="Classifying the file…")
def _predict_file(run_dir: str, stamp: int, data: bytes, suffix: str, label: str, max_bytes: int,
                  precision: str = "fp32"):
    from hpt_core.uploads import predictions_beside_inputs, texts_upload

    model = _predictor(run_dir, stamp)
    if precision != model.precision:  # the cached model, scored at another precision (nothing reloaded)
        model = model.at_precision(precision)
    upload = texts_upload(data, suffix, label=label, max_bytes=max_bytes)
    table = predictions_beside_inputs(upload, model.predict_table(upload.texts))
    return table, model.last_latency_s, upload.skipped, upload.spanning


def predict_file(run_dir: Path, data: bytes, suffix: str, label: str, precision: str = "fp32"):
    """``(table, seconds, skipped, spanning)`` for an uploaded file of texts: every input column and
    row in file order with the predictions beside them, ``(line, reason)`` for each row left out and
    ``(first, last)`` lines of each text over several lines (cached: reruns do not classify again).
    ``precision``: of the model's own scores (``Predictor``'s; the app's models are on the CPU)."""
    from hpt_core.backbone import uses_bf16

    # the arithmetic actually used is the cache key: "auto" without native bf16 is float32, not a new job
    used = "bf16" if uses_bf16(precision, "cpu") else "fp32"
    return _predict_file(str(run_dir), model_stamp(run_dir), data, suffix, label, workspace().max_upload_bytes, used)


def split_predictions(run_dir: Path, data: str) -> bytes:
    """The run's predictions on a corpus file as CSV bytes, gold labels beside them.

    Called when its download button is clicked (outside a script run): it uses no Streamlit cache.
    """
    from hpt_core.data import read_corpus

    if runs.is_zero_shot_run(run_dir):
        from hpt_core.zero_shot import load_run_classifier

        model = load_run_classifier(run_dir, device="cpu")
    else:
        from hpt_core.predict import Predictor

        model = Predictor.from_run(str(run_dir), device="cpu")
    docs = read_corpus(data, model.hierarchy)
    table = model.predict_table([d.text for d in docs])
    table.insert(1, "gold_labels", [";".join(d.labels) for d in docs])
    return csv_bytes(table)


def run_archive(run_dir: Path) -> bytes:
    """The run folder as a zip: the model folder (loadable with ``from_pretrained``), run.json,
    metrics, history and log (not the resume checkpoint)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(run_dir.rglob("*")):
            rel = path.relative_to(run_dir)
            if path.is_file() and rel.parts[0] != runs.CHECKPOINT_DIR and not rel.name.startswith("."):
                archive.write(path, f"{run_dir.name}/{rel.as_posix()}")
    return buffer.getvalue()


@st.cache_data(max_entries=16, show_spinner="Evaluating the run on this split…")
def _evaluation(run_dir: str, data: str, stamp: int, data_stamp: int):
    from hpt_core.evaluation import evaluate_run

    return evaluate_run(run_dir, data, with_table=True)


def evaluation(run_dir: Path, data: str):
    """``(report, per-label table)`` of the run's best model on a corpus file (cached)."""
    return _evaluation(str(run_dir), str(data), model_stamp(run_dir), _stamp(Path(data)))


@st.cache_data(max_entries=8, show_spinner="Finding the nearest words…")
def _neighbours(run_dir: str, stamp: int, k: int):
    from hpt_core.neighbours import neighbours_table

    return neighbours_table(_predictor(run_dir, stamp).model, k)


def neighbours(run_dir: Path, k: int):
    """The k nearest vocabulary words of every label word of the run (Table 4), as a table."""
    return _neighbours(str(run_dir), model_stamp(run_dir), k)


def chart(fig, key: str, where=None, **kwargs):
    """A small Plotly chart (no mode bar: it would cover the title), in ``where`` (default: here)."""
    return (where or st).plotly_chart(fig, key=key, config=PLOT_CONFIG, **kwargs)


def tree_chart(fig, key: str, where=None, **kwargs):
    """A tree figure, with Plotly's zoom and pan buttons."""
    return (where or st).plotly_chart(fig, key=key, config=TREE_CONFIG, **kwargs)


def csv_bytes(table) -> bytes:
    return table.to_csv(index=False).encode("utf-8")
