"""Predict: classify typed text (labels per depth, path on the tree, raw vs consistent) or a file of texts."""

import pandas as pd
import streamlit as st

from hpt_core import viz
from hpt_core.decoding import decision_name
from hpt_core.errors import HPTInputError
from hpt_core.uploads import TEXTS_SUFFIXES, upload_suffix
from app_pages._shared import (chart, csv_bytes, md, predict_file, require_predictor, show_error,
                           tree_chart)
from app_pages._explain_ui import explain_section
from app_pages._zero_shot_ui import zero_shot_section

st.title("Predict")
if zero_shot_section():  # predictions from the label names alone, before any training
    st.stop()
run_dir, model = require_predictor()
h = model.hierarchy
st.caption(f"Run **{md(run_dir.name)}** ({md(model.model.config.method)}, {len(h)} labels). Change it in the sidebar.")

MAX_CHARS = 20_000
calibration = model.calibration
abstain_below = None
if calibration is not None:
    with st.expander("Confidence and abstaining"):
        abstain_below = st.slider("Flag texts below this confidence", 0.0, 0.95, 0.0, 0.05, key="predict_abstain",
                                  help="Calibrated on the run's dev set: of the labels shown with confidence 0.8, "
                                       "about 80 % were right there. A text's confidence is its least sure label's. "
                                       "Texts below the threshold are flagged for a person to check.")
        curve = calibration.dev.get("curve") or []
        n_dev = calibration.dev.get("documents")  # absent in folders calibrated before session 13
        if n_dev:
            st.caption(f"Learnt on the run's {n_dev:,} dev documents ({calibration.dev.get('labels', 0):,} decided "
                       "labels)" + (": few, so read these figures as rough." if n_dev < 300 else "."))
        if curve:
            chart(viz.abstention_figure(curve, abstain_below or None), key="predict_abstention")
            at = min(curve, key=lambda point: abs(point["threshold"] - abstain_below))
            kept = f"On dev, flagging below {at['threshold']:.2f} keeps {100 * at['coverage']:.0f} % of the texts"
            if at["precision"] is not None:
                kept += f", whose labels are {100 * at['precision']:.1f} % right"
            if curve[0]["precision"] is not None:
                kept += f" (all texts: {100 * curve[0]['precision']:.1f} %)"
            st.caption(kept + ".")
        if calibration.dev.get("ece") is not None:
            st.caption(f"Expected calibration error on dev: {calibration.dev['ece']:.3f} (0 is perfect; "
                       "the test figure is on the Results page). Over all depths it can be lower than at each "
                       "depth: one depth's over-confidence and another's under-confidence partly cancel in the same bins.")
        abstain_below = abstain_below or None
else:
    st.caption("This model folder has no calibration (trained before it existed): confidences are not shown. "
               "`python -m hpt_core decide --run-dir …` adds one.")
tab_one, tab_batch = st.tabs(["Text", "File of texts"])

with tab_one:
    with st.form("predict_form"):
        # No max_chars on the box: the browser would silently cut (or drop) a longer paste. The limit
        # is checked here and said out loud instead.
        text = st.text_area(f"Text to classify (up to {MAX_CHARS:,} characters)", height=140,
                            placeholder="Paste or type a document…", key="predict_text",
                            help=f"Longer texts are cut at {MAX_CHARS:,} characters; the model itself reads "
                                 f"at most {model.model.config.max_length} tokens of what is left.")
        submitted = st.form_submit_button("Predict", type="primary", icon=":material/play_arrow:")
    if submitted:
        st.session_state.pop("predict_last", None)  # a new attempt never leaves the old result standing
        if not text.strip():
            st.warning("Type or paste some text first.", icon=":material/edit:")
        else:
            if len(text) > MAX_CHARS:
                st.warning(f"The text has {len(text):,} characters; only the first {MAX_CHARS:,} were classified "
                           "(the limit of this box).", icon=":material/content_cut:")
                text = text[:MAX_CHARS]
            try:
                prediction = model.predict([text])[0]
            except Exception as err:  # a model failure is shown, never raised into the page
                show_error(err, "Prediction failed")
            else:
                st.session_state["predict_last"] = (str(run_dir), prediction, model.last_latency_s)

    last = st.session_state.get("predict_last")
    if last and last[0] == str(run_dir):
        _, p, latency = last
        raw, consistent = set(p.labels), set(p.consistent_labels)
        for warning in p.warnings:
            st.warning(f"Unusual text: {md(warning)}.", icon=":material/translate:")
        c = st.columns(4)
        c[0].metric("Latency", f"{1000 * (latency or 0):.0f} ms", help="Model forward pass on this machine's CPU.")
        c[1].metric(f"Labels ({decision_name(model.decision)})", len(raw))
        c[2].metric("Labels (consistent)", len(consistent))
        if p.document_confidence is not None:
            c[3].metric("Confidence", f"{100 * p.document_confidence:.0f} %",
                        help="Calibrated on dev: how often a label this sure was right. The text's confidence is "
                             "its least sure label's.")
            if abstain_below is not None and p.document_confidence < abstain_below:
                st.info(f"Below the threshold of {100 * abstain_below:.0f} %: flagged for a person to check.",
                        icon=":material/front_hand:")
        familiar = model.classifier.familiarity
        st.caption(f"Read {p.tokens_read:,} of {p.tokens_total:,} tokens in {p.windows} window{'s' * (p.windows != 1)}."
                   + ("" if p.familiarity is None or familiar is None else
                      f" Like the training texts: {p.familiarity:.2f} (the mean similarity to its {familiar.k} closest; "
                      f"{100 * (1 - familiar.quantile):.0f} % of dev's documents are above {familiar.threshold:.2f})."))
        by_depth = p.by_depth(h)
        left, right = st.columns([3, 2])
        with left:
            tree_chart(viz.label_tree_figure(h, highlight=p.paths or None, emphasis=True,
                                             title="Predicted path (consistent decision)"), key="predict_tree")
            if len(h) > viz.MAX_NAMED_NODES:
                st.caption("Red: the predicted path, drawn wide at every depth; grey: the other labels "
                           "(hover for names, click one to open it).")
        with right:
            chart(viz.scores_figure(by_depth, top=5, predicted=raw,
                                    title="Top scores per depth (colour: predicted, "
                                          + {"threshold": "score > 0)", "top_down": "top-down paths)"}.get(model.decision, "best path)")),
                  key="predict_scores")
        st.markdown("**Per depth: the raw decision beside the hierarchy-consistent one**")

        def listed(names: list[str], limit: int = 12) -> str:
            # A model can pass hundreds of labels in a big tree: name the best ones, count the rest.
            return (", ".join(names[:limit]) + (f" … and {len(names) - limit} more" if len(names) > limit else "")
                    if names else "—")

        rows = []
        for depth, items in by_depth.items():
            rows.append({
                "depth": depth,
                decision_name(model.decision): listed([f"{lab} ({s:+.2f})" for lab, s in items if lab in raw]),
                "hierarchy-consistent": listed([label for label, _ in items if label in consistent]),
                "best label": f"{items[0][0]} ({items[0][1]:+.2f})" if items else "—",
            })
        st.dataframe(pd.DataFrame(rows), hide_index=True)
        dropped = [label for label in p.labels if label not in consistent]
        if dropped:
            st.caption(f"{len(dropped)} label(s) passed without their parent and are dropped by the consistent "
                       "decision (see the table).")
        shown_paths = p.paths[:20]
        st.markdown("**Paths**: " + (" · ".join(" › ".join(md(x) for x in path) for path in shown_paths)
                                      + (f" … and {len(p.paths) - 20} more (see All scores)" if len(p.paths) > 20 else "")
                                      if p.paths else "no label scored above 0 at depth 1"))
        sure = p.confidence(h)
        if sure:
            st.markdown("**How sure, along the path**")
            st.dataframe(pd.DataFrame([{"label": c["label"], "depth": c["depth"],
                                        **({} if c["confidence"] is None else
                                           {"confidence (calibrated)": f"{100 * c['confidence']:.1f} %"}),
                                        "sigmoid of the score": f"{100 * c['probability']:.1f} %",
                                        "margin over the best sibling": "—" if c["margin"] is None else f"{c['margin']:+.2f}"}
                                       for c in sure]), hide_index=True)
            st.caption(("Confidence: how often a label with this score and margin at this depth was right on dev. "
                        if p.document_confidence is not None else "")
                       + "Sigmoid of the score: the decided score as a probability"
                       + (" (with this run's classical blend, the blend's mixed probability)"
                          if model.classifier.blend is not None else "")
                       + ", not calibrated on held-out data. Margin: this label's score minus "
                       "its best sibling's — near 0 means the model nearly chose the sibling.")
        with st.expander("All scores"):
            st.dataframe(pd.DataFrame([{"label": label, "depth": d, "score": round(score, 4),
                                        "decided": label in raw, "consistent": label in consistent}
                                       for d, items in by_depth.items() for label, score in items]), hide_index=True)
        explain_section(model.classifier, p.text, p.scores, p.consistent_labels, key="predict_explain")

with tab_batch:
    st.caption("A `.txt` file (one text a line), a `.csv`/`.tsv` with a `text` column, or JSON Lines with a `text` "
               "field; up to 10,000 texts.")
    upload = st.file_uploader("File of texts", key="predict_file", help=", ".join(TEXTS_SUFFIXES))
    fast = st.toggle("Faster arithmetic (bfloat16)", key="predict_bf16",
                     help="Scores the model's own pass under bfloat16 where this machine's CPU computes it natively "
                          "(AVX-512 BF16 or AMX; elsewhere this changes nothing): about 1.5× faster on "
                          "20ng, where all 1,000 test label sets checked came out the same. Off: float32, the "
                          "arithmetic of the Results page's figures.")
    if upload is not None:
        try:
            table, seconds, skipped, spanning = predict_file(run_dir, upload.getvalue(),
                                                             upload_suffix(upload.name, TEXTS_SUFFIXES), upload.name,
                                                             "auto" if fast else "fp32")
        except HPTInputError as err:
            show_error(err, "Cannot classify this file")
        except Exception as err:  # a model failure is shown, never raised into the page
            show_error(err, "Prediction failed")
        else:
            st.success(f"{len(table)} texts classified in {seconds:.1f} s; every column of the file is kept, in its "
                       "row order, with the predictions beside it.", icon=":material/check_circle:")
            if skipped:
                shown = ", ".join(f"{line} ({why})" for line, why in skipped[:50])
                st.warning(f"{len(skipped)} row(s) skipped, not classified — line {shown}"
                           + (" …" if len(skipped) > 50 else ""), icon=":material/playlist_remove:")
            if spanning:
                shown = ", ".join(f"{first}–{last}" for first, last in spanning[:20])
                st.info(f"{len(spanning)} text(s) run over several lines inside quotes — lines {shown}"
                        + (" …" if len(spanning) > 20 else "") + ". If that is not meant, a stray quote (\") merged "
                        "rows there: remove it, or double it (\"\").", icon=":material/format_quote:")
            # predictions_beside_inputs names the prediction columns "predicted …"
            if abstain_below is not None and "predicted confidence" in table:
                flagged = table["predicted confidence"] < abstain_below
                table.insert(table.columns.get_loc("predicted confidence") + 1, "abstained", flagged)
                st.info(f"{int(flagged.sum())} of {len(table)} texts are below {100 * abstain_below:.0f} % confidence "
                        "and flagged (column `abstained`).", icon=":material/front_hand:")
            if "predicted warnings" in table and (table["predicted warnings"] != "").any():
                st.warning(f"{int((table['predicted warnings'] != '').sum())} text(s) look unusual for this model (no "
                           "words, mostly words it does not know, or unlike every training text): see the "
                           "`predicted warnings` column.",
                           icon=":material/translate:")
            columns = [c for c in table.columns if not c.startswith("score:")]
            st.dataframe(table[columns].head(200), hide_index=True)
            if len(table) > 200:
                st.caption(f"The first 200 of {len(table)} rows; the CSV holds them all, with every label's score "
                           "(the best 10 per text for trees of more than 200 labels).")
            st.download_button("Download predictions (CSV)", csv_bytes(table), file_name=f"predictions-{run_dir.name}.csv",
                               mime="text/csv", icon=":material/download:", on_click="ignore")
