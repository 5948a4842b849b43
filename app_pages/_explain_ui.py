""""Why this label?": token attributions shown as highlighted text and a table (Predict page, error browser).

No torch here: ``hpt_core.explain`` computes, this module shows. Every piece of user text goes
through ``html.escape`` (inside ``highlighted_html``) or ``md``.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from app_pages._shared import md, show_error

PATH = "predicted path, per depth"
ONE = "any label"


def _label_choice(h, scores: dict[str, float], label: str) -> str:
    return f"{label} (depth {h.depth(label)}, score {scores.get(label, float('nan')):+.2f})"


#: Above this share of |score − baseline| missed (the convergence delta), attributions are called rough
#: and more steps are offered, up to MAX_STEPS (each a full pass of the model per label and step).
ROUGH = 0.05
MAX_STEPS = 320


def _rough(explanations) -> bool:
    return any(e.relative_delta > ROUGH for e in explanations)


def _percent_missed(explanation) -> str:
    share = explanation.relative_delta
    return "all" if share == float("inf") else f"{100 * share:.1f} %"


def attribution_table(explanations) -> pd.DataFrame:
    """Rows: the words of the text; one attribution column per explained label."""
    first = explanations[0]
    table = pd.DataFrame({"position": range(len(first.words)), "word": [w for w, *_ in first.words]})
    for e in explanations:
        table[f"depth {e.depth}: {e.label}"] = [round(a, 4) for *_, a in e.words]
    return table


def explain_section(classifier, text: str, scores: dict[str, float], predicted: list[str], key: str = "explain") -> None:
    """Controls and results of an explanation of ``text`` by the run's model.

    ``scores`` are the prediction's per-label scores (shown in the label list); ``predicted`` its
    hierarchy-consistent labels (the default "path" explanation).
    """
    from hpt_core.explain import BASELINE, DEFAULT_STEPS, METHOD, explain, highlighted_html

    h = classifier.hierarchy
    st.markdown("**Why?** Which words raised (green) or lowered (red) a label's score")
    c1, c2 = st.columns([2, 3])
    mode = c1.segmented_control("Explain", [PATH, ONE], default=PATH, key=f"{key}_mode") or PATH
    labels = list(predicted)
    if mode == ONE:
        ranked = sorted(h.labels, key=lambda label: -scores.get(label, 0.0))
        labels = [c2.selectbox("Label (predicted or not)", ranked, key=f"{key}_label",
                               format_func=lambda label: _label_choice(h, scores, label))]
    elif not labels:
        c2.caption("Nothing is predicted: the best label of each depth is explained instead.")
        labels = None

    def compute(steps: int) -> bool:
        started = time.perf_counter()
        try:
            found = explain(classifier, text, labels, n_steps=steps)
        except Exception as err:  # shown, never raised into the page
            show_error(err, "Cannot explain")
            return False
        st.session_state[f"{key}_result"] = (text, mode, found, time.perf_counter() - started)
        return True

    if st.button("Explain", key=f"{key}_go", icon=":material/insights:") and not compute(DEFAULT_STEPS):
        return
    result = st.session_state.get(f"{key}_result")
    if not result or result[0] != text or result[1] != mode:
        return
    steps = result[2][0].n_steps
    if _rough(result[2]) and steps < MAX_STEPS and st.button(
            f"More steps ({min(4 * steps, MAX_STEPS)})", key=f"{key}_refine", icon=":material/zoom_in:",
            help="Integrated gradients approximate an integral with this many steps; more steps miss less of "
                 "the score, and take as much longer."):
        if not compute(min(4 * steps, MAX_STEPS)):
            return
        result = st.session_state[f"{key}_result"]
    _, _, explanations, seconds = result
    whole = classifier.lexical is not None or classifier.blend is not None
    colour_whole = classifier.lexical is not None and st.toggle(
        "Colour by the whole decided score (the model's words + the lexical channel's terms)", value=True,
        key=f"{key}_whole_colour", help="Off: the model's attributions alone. On: each word also carries the lexical "
                                        "channel's terms it is part of (a phrase's half each) — the channel reads the "
                                        "whole text, so words past the model's input length are coloured too.")
    for i, e in enumerate(explanations):
        kept = "predicted" if e.predicted else "not predicted"
        st.markdown(f"**{md(e.label)}** · depth {e.depth} · {kept} · the model's own score {e.score:+.3f} "
                    f"(baseline {e.baseline_score:+.3f}) · convergence delta {e.delta:+.4f} "
                    f"({_percent_missed(e)} of the score − baseline)"
                    + (f" · **the score decided on {e.document_score:+.3f}**" if whole and e.document_score is not None
                       else ""))
        st.html(highlighted_html(e, whole_score=colour_whole))
        if whole:
            # the whole decided score: the model's words, the lexical channel's exact terms, the blend's shift
            parts = e.parts()
            st.caption("The score decided on, in parts that add up to it: " + " · ".join(
                f"{md(name)} {value:+.3f}" for name, value in parts.items() if value) + f" = {e.document_score:+.3f}")
            with st.expander(f"What made {e.label}'s score, ranked (words and phrases of both parts)"):
                st.dataframe(e.whole_score_table(k=30).round({"contribution": 4}), hide_index=True,
                             key=f"{key}_whole_{i}")
                st.caption("The model's words are attributions (integrated gradients); the lexical channel's are "
                           "exact (TF-IDF × weight). The 30 largest words and phrases are listed, then every fixed "
                           "part; the complete list adds up to the score decided on (CLI: explain --json, 'parts').")
    if explanations and explanations[0].truncated:
        st.caption("The text was cut at the model's input length; the greyed rest was not seen.")
    table = attribution_table(explanations)
    st.dataframe(table, hide_index=True, key=f"{key}_table")
    st.caption(f"Method: {md(METHOD)}, {explanations[0].n_steps} steps. Baseline: {md(BASELINE)}. "
               "A word's attributions add up, over the text, to score − baseline score; the convergence delta is "
               f"what they miss. Computed in {seconds:.1f} s.")
    if _rough(explanations):
        st.caption(f"The attributions miss more than {ROUGH:.0%} of some label's score − baseline: read them as "
                   "rough" + (", or compute them with more steps (the button above)." if explanations[0].n_steps < MAX_STEPS
                              else " (this is the most steps offered)."))
