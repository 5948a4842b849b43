"""Why a label: which tokens of the text pushed its score up or down.

The attribution method is Captum's layer integrated gradients (Sundararajan et al., 2017) on the
word-embedding layer: the label's score is integrated along the straight line from a baseline input
to the real one, and each token gets its share of ``score(text) - score(baseline)``. The baseline is
the same templated input with every *text* token replaced by ``[PAD]``: ``[CLS]``, ``[SEP]``, the
depth template and the ``[PRED]`` slots are kept, so what is attributed is the text alone. The
convergence delta — ``sum(attributions) - (score - baseline score)`` — says how well the integral was
approximated (0 is exact; more steps shrink it).

A word's attribution is the sum over its word pieces. :func:`explain` covers any labels (predicted
or not) in one batched pass, and by default the predicted path's label at each depth.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from hpt_core.decoding import argmax_path_decode, decide_consistently, model_decision
from hpt_core.errors import HPTInputError

METHOD = "layer integrated gradients (Captum) on the word embeddings"
BASELINE = "the same input with every text token replaced by [PAD]; [CLS], [SEP], template and [PRED] kept"
DEFAULT_STEPS = 20
#: How the lexical channel's TF-IDF splits a text into words (scikit-learn's default pattern, lower-cased,
#: which ``hpt_core.tfidf`` keeps): used to place its terms back on the text.
TFIDF_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@dataclass
class Explanation:
    """Token attributions of one label's score for one text.

    ``words`` are ``(word, start, end, attribution)``: character offsets into ``text`` (``None`` when
    the tokenizer gives none) and the summed attribution of the word's pieces. ``tokens`` and
    ``token_attributions`` are the word pieces as the model saw them (the text may be cut at
    ``max_length``). ``delta`` is the convergence delta in score units; ``relative_delta`` divides it
    by ``|score - baseline_score|``.

    ``score`` is the model's own score, the part the attributions explain. With a lexical channel
    (``PipelineConfig.lexical_channel``) the document's score is ``score + lexical_score``; the channel is
    linear, so its score is taken apart exactly (``lexical_terms``: each TF-IDF term's contribution,
    ``lexical_bias``, ``lexical_sentence``). With a classical blend (``PipelineConfig.blend``) the sum is
    then mixed with the classical classifier's probability: ``blend_shift`` is what that moved.
    :meth:`parts` and :meth:`whole_score_table` add up to ``document_score``, the score decided on
    (``predicted``, as ``Predictor`` decides).
    """

    text: str
    label: str
    depth: int
    score: float
    baseline_score: float
    delta: float
    tokens: list[str]
    token_attributions: list[float]
    words: list[tuple[str, int | None, int | None, float]]
    n_steps: int
    truncated: bool = False
    method: str = METHOD
    baseline: str = BASELINE
    predicted: bool = field(default=False)
    lexical_score: float = 0.0
    #: The score the model decides on: ``score + lexical_score``, through the blend when there is one.
    document_score: float | None = None
    #: The lexical channel's score taken apart (it is linear): each TF-IDF term of the text with its
    #: exact contribution, the label's bias and the sentence embedding's part (``tfidf+sentence``).
    lexical_terms: list[tuple[str, float]] = field(default_factory=list)
    lexical_bias: float = 0.0
    lexical_sentence: float = 0.0

    @property
    def blend_shift(self) -> float:
        """What the classical blend moved the score by: ``document_score - (score + lexical_score)``
        (0 without a blend). The blend mixes probabilities, so it is one part, not split into words."""
        if self.document_score is None:
            return 0.0
        return self.document_score - (self.score + self.lexical_score)

    def parts(self) -> dict[str, float]:
        """The whole score the model decided on, as parts that add up to it (``document_score``):
        the baseline's score, the model's word attributions, the integration's error (minus the
        convergence delta), the lexical channel's terms, bias and sentence part, and the blend's shift."""
        return {"model: baseline (text replaced by [PAD])": self.baseline_score,
                "model: words (attributions)": float(sum(self.token_attributions)),
                "model: integration error (− convergence delta)": -self.delta,
                "lexical channel: words and phrases": float(sum(v for _, v in self.lexical_terms)),
                "lexical channel: bias": self.lexical_bias,
                "lexical channel: sentence embedding": self.lexical_sentence,
                "classical blend": self.blend_shift}

    def whole_score_table(self, k: int | None = None):
        """One ranked list of what made the decided score: the text's words (the model's
        attributions) and its TF-IDF terms (the lexical channel's exact contributions), largest in
        absolute value first (the ``k`` first when given), then the fixed parts (the model's
        baseline and integration error, the channel's bias and sentence part, the blend). Without
        ``k`` the ``contribution`` column adds up to ``document_score``."""
        import pandas as pd

        items = [{"part": "model", "what": w, "contribution": a} for w, _, _, a in self.words]
        items += [{"part": "lexical channel", "what": t, "contribution": v} for t, v in self.lexical_terms]
        items.sort(key=lambda row: -abs(row["contribution"]))
        if k is not None:
            items = items[:k]
        fixed = [("model", "baseline (text replaced by [PAD])", self.baseline_score),
                 ("model", "integration error (− convergence delta)", -self.delta),
                 ("lexical channel", "bias", self.lexical_bias),
                 ("lexical channel", "sentence embedding", self.lexical_sentence),
                 ("classical blend", "shift of the blend", self.blend_shift)]
        items += [{"part": p, "what": w, "contribution": v} for p, w, v in fixed if v != 0.0 or w.startswith("baseline")]
        return pd.DataFrame(items, columns=["part", "what", "contribution"])

    @property
    def relative_delta(self) -> float:
        gap = abs(self.score - self.baseline_score)
        return abs(self.delta) / gap if gap > 1e-12 else float("inf") if abs(self.delta) > 1e-12 else 0.0

    def whole_score_words(self) -> list[tuple[str, int | None, int | None, float]]:
        """The words of the whole text, each with what it brought to the score decided on: the
        model's attribution plus the lexical channel's terms shared among their occurrences — a
        word's own term, and half of each two-word phrase it is part of. Words past the model's
        input length (the channel reads the whole text) carry the channel's part alone. What
        belongs to no word — the baseline, the integration error, the channel's bias and sentence
        part, the blend's shift — is in :meth:`parts`. Without character offsets (slow tokenizers)
        or without a channel: the model's words as they are."""
        if not self.lexical_terms or any(start is None for _, start, _, _ in self.words):
            return list(self.words)
        tokens = [(m.group().lower(), m.start(), m.end()) for m in TFIDF_TOKEN.finditer(self.text)]
        share = np.zeros(len(tokens))
        at: dict[str, list[int]] = {}
        for i, (token, _, _) in enumerate(tokens):
            at.setdefault(token, []).append(i)
            if i:
                at.setdefault(f"{tokens[i - 1][0]} {token}", []).append(i - 1)  # a phrase, by its first word
        for term, value in self.lexical_terms:
            where = at.get(term, [])
            for i in where:
                if " " in term:  # half to each word of the phrase
                    share[i] += value / len(where) / 2
                    share[i + 1] += value / len(where) / 2
                else:
                    share[i] += value / len(where)
        out, used = [], np.zeros(len(tokens), dtype=bool)
        for word, start, end, value in self.words:
            inside = [i for i, (_, a, b) in enumerate(tokens) if a < end and b > start]
            used[inside] = True
            out.append((word, start, end, value + float(share[inside].sum())))
        out += [(self.text[a:b], a, b, float(share[i])) for i, (_, a, b) in enumerate(tokens) if not used[i]]
        return sorted(out, key=lambda word: word[1])

    def top_words(self, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words with the largest attribution in absolute value, largest first."""
        ranked = sorted(self.words, key=lambda w: -abs(w[3]))
        return [(w, a) for w, _, _, a in ranked[:k]]

    def table(self):
        """One row per word: position, word, attribution, and its share of the total absolute attribution."""
        import pandas as pd

        total = sum(abs(a) for *_, a in self.words) or 1.0
        return pd.DataFrame([{"position": i, "word": w, "attribution": a, "share": abs(a) / total,
                              "direction": "raises" if a > 0 else "lowers" if a < 0 else ""}
                             for i, (w, _, _, a) in enumerate(self.words)])

    def to_dict(self) -> dict:
        out = asdict(self)
        out["relative_delta"] = self.relative_delta
        out["words"] = [{"word": w, "start": s, "end": e, "attribution": a} for w, s, e, a in self.words]
        out["lexical_terms"] = [{"term": t, "contribution": v} for t, v in self.lexical_terms]
        out["blend_shift"] = self.blend_shift
        out["parts"] = self.parts()  # they add up to document_score
        return out


def _word_spans(tokenizer, text: str, ids: list[int]) -> tuple[list[str], list[tuple[int | None, int | None]], list[int]]:
    """Word pieces of ``text``, their character spans and the word each belongs to (prefix of length len(ids))."""
    n = len(ids)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    if getattr(tokenizer, "is_fast", False):
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=n)
        if list(encoding["input_ids"][:n]) == list(ids):
            word_ids = encoding.word_ids()[:n]
            return pieces, [tuple(o) for o in encoding["offset_mapping"][:n]], [
                w if w is not None else i for i, w in enumerate(word_ids)]
    # A slow tokenizer: no offsets; "##" continues the previous word (BERT's word pieces).
    words, current = [], -1
    for piece in pieces:
        current += 0 if piece.startswith("##") and current >= 0 else 1
        words.append(current)
    return pieces, [(None, None)] * n, words


def _merge_words(text, pieces, spans, word_ids, attributions) -> list[tuple[str, int | None, int | None, float]]:
    merged: dict[int, list] = {}
    order = []
    for piece, (start, end), word, value in zip(pieces, spans, word_ids, attributions):
        if word not in merged:
            merged[word] = [piece, start, end, 0.0]
            order.append(word)
        else:
            entry = merged[word]
            entry[0] += piece[2:] if piece.startswith("##") else piece
            entry[2] = end
        merged[word][3] += float(value)
    out = []
    for word in order:
        piece, start, end, value = merged[word]
        if start is not None and end is not None:
            piece = text[start:end]
        out.append((piece, start, end, value))
    return out


def default_labels(classifier, text: str) -> list[str]:
    """The labels :func:`explain` covers by default: the predicted path (hierarchy-consistent decision),
    or the best label of each depth along the best path when nothing is predicted."""
    from hpt_core.classifier import as_classifier

    classifier = as_classifier(classifier)
    scores = classifier.predict_scores([text]).numpy()
    h = classifier.hierarchy
    kept = decide_consistently(scores, h, model_decision(classifier))[0]
    if not kept.any():
        kept = argmax_path_decode(scores, h)[0]
    return [h.labels[i] for i in np.flatnonzero(kept)]


def explain(classifier, text: str, labels: list[str] | str | None = None, n_steps: int = DEFAULT_STEPS,
            internal_batch_size: int | None = 64) -> list[Explanation]:
    """Token attributions for ``labels`` of ``classifier`` on ``text`` (one :class:`Explanation` per label).

    ``classifier``: an ``HTCClassifier`` (a bare ``HPTModel`` is one without parts). The tokens are
    attributed through the model's own score; the lexical channel's terms and the blend's shift
    complete the score decided on.

    ``labels``: a label name, a list, or ``None`` for :func:`default_labels` (one label per depth of the
    predicted path). Every label is attributed in the same batched Captum call.

    Shapes: the templated input is (1, T); it is repeated to (L, T) for L labels, and Captum runs
    ``L * n_steps`` interpolated inputs through the model (in chunks of ``internal_batch_size``).
    """
    import torch
    from captum.attr import LayerIntegratedGradients

    if not text or not text.strip():
        raise HPTInputError("there is no text to explain")
    from hpt_core.classifier import as_classifier

    classifier = as_classifier(classifier)
    model = classifier.model
    h = model.hierarchy
    if labels is None:
        labels = default_labels(classifier, text)
    elif isinstance(labels, str):
        labels = [labels]
    for label in labels:
        if label not in h.label_to_index:
            raise HPTInputError(f"unknown label {label!r}; the run's labels are e.g. {', '.join(h.labels[:5])}")
    if n_steps < 2:
        raise HPTInputError(f"n_steps must be at least 2; got {n_steps}")

    token_ids = model.tokenize([text])[0]
    if not token_ids:
        raise HPTInputError("the text has no tokens the model knows")
    # One piece more than the model saw tells whether the text was cut (without tokenizing all of it).
    longer = model.tokenizer(text, add_special_tokens=False, truncation=True, max_length=len(token_ids) + 1)
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in model.collate([token_ids]).items()}
    n = len(labels)
    repeat = {k: v.expand(n, *v.shape[1:]).contiguous() for k, v in batch.items()}
    inputs = repeat["input_ids"]
    pad_id = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    baselines = inputs.masked_fill(repeat["text_mask"], pad_id)  # the template is kept
    targets = [h.label_to_index[label] for label in labels]

    def scores_of(input_ids, attention_mask, token_type_ids, text_mask, template_positions, pred_positions):
        part = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                "text_mask": text_mask, "template_positions": template_positions, "pred_positions": pred_positions}
        return model.score(model.encode(part, input_ids), pred_positions, text_mask).float()

    extra = tuple(repeat[k] for k in ("attention_mask", "token_type_ids", "text_mask", "template_positions",
                                      "pred_positions"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            real = scores_of(inputs, *extra)[0]
            base = scores_of(baselines, *extra)[0]
        lig = LayerIntegratedGradients(scores_of, model.mlm.get_input_embeddings())
        attributions, deltas = lig.attribute(inputs, baselines=baselines, target=targets, additional_forward_args=extra,
                                             n_steps=n_steps,
                                             internal_batch_size=max(internal_batch_size, n) if internal_batch_size else None,
                                             return_convergence_delta=True)
    finally:
        model.train(was_training)
    per_token = attributions.sum(-1).detach().float().cpu().numpy()  # (L, T)
    positions = np.flatnonzero(batch["text_mask"][0].cpu().numpy())
    pieces, spans, word_ids = _word_spans(model.tokenizer, text, token_ids)
    channel = classifier.lexical
    lexical = channel.scores([text]) if channel is not None else torch.zeros(1, len(h.labels))
    # What the model decides on: its own score plus the lexical channel's, through the classical blend.
    document_scores = classifier.document_scores([text], real.detach().float().cpu()[None], lexical_scores=lexical)[0].numpy()
    lexical = lexical[0].numpy()
    predicted = set(h.labels[i] for i in np.flatnonzero(decide_consistently(document_scores[None], h, model_decision(classifier))[0]))
    out = []
    for row, (label, target) in enumerate(zip(labels, targets)):
        values = per_token[row, positions]
        terms, bias, sentence = channel.contributions(text, target) if channel is not None else ([], 0.0, 0.0)
        out.append(Explanation(
            text=text, label=label, depth=h.depth(label), score=float(real[target]), baseline_score=float(base[target]),
            delta=float(deltas[row]), tokens=list(pieces), token_attributions=[float(v) for v in values],
            words=_merge_words(text, pieces, spans, word_ids, values), n_steps=n_steps,
            truncated=len(longer["input_ids"]) > len(token_ids), predicted=label in predicted,
            lexical_score=float(lexical[target]), document_score=float(document_scores[target]),
            lexical_terms=terms, lexical_bias=bias, lexical_sentence=sentence))
    return out


# ---- showing an explanation ------------------------------------------------------------------------------
def highlighted_html(explanation: Explanation, whole_score: bool = False) -> str:
    """The text with each word's background coloured by its attribution (green raises the score, red
    lowers it; stronger colour, larger share), every piece of user text HTML-escaped.

    ``whole_score``: colour by what each word brought to the score decided on, the lexical channel's
    terms included (:meth:`Explanation.whole_score_words`); the words past the model's input length
    are then coloured too, by the channel's part. Words are placed at their character offsets, so
    the text reads as typed; without offsets (slow tokenizers) the words are joined by spaces. A
    hover shows the value.
    """
    words = explanation.whole_score_words() if whole_score else explanation.words
    peak = max((abs(a) for *_, a in words), default=0.0) or 1.0

    def mark(word: str, value: float) -> str:
        alpha = min(1.0, abs(value) / peak) * 0.75
        colour = "22, 163, 74" if value > 0 else "220, 38, 38"
        return (f'<span style="background: rgba({colour}, {alpha:.2f}); border-radius: 3px; padding: 0 1px" '
                f'title="{value:+.4f}">{html.escape(word)}</span>')

    parts, cursor = [], 0
    text = explanation.text
    if all(start is not None for _, start, _, _ in words):
        for word, start, end, value in words:
            parts.append(html.escape(text[cursor:start]))
            parts.append(mark(word, value))
            cursor = end
        if explanation.truncated and not (whole_score and explanation.lexical_terms):
            parts.append(f'<span style="opacity: 0.5">{html.escape(text[cursor:])}</span>')
        else:
            parts.append(html.escape(text[cursor:]))
    else:
        parts.append(" ".join(mark(word, value) for word, _, _, value in words))
    body = "".join(parts).replace("\n", "<br>")
    return f'<div style="line-height: 1.9; font-size: 0.95rem">{body}</div>'


def summary_line(e: Explanation) -> str:
    """One line: the label, its score against the baseline's, and the convergence delta."""
    return (f"{e.label} (depth {e.depth}{', predicted' if e.predicted else ''}): score {e.score:+.3f}, "
            f"baseline {e.baseline_score:+.3f}, attributions sum {sum(e.token_attributions):+.3f}, "
            f"convergence delta {e.delta:+.4f} ({100 * min(e.relative_delta, 9.99):.1f}% of the gap)"
            + (f"; lexical channel {e.lexical_score:+.3f}" if e.lexical_score else "")
            + (f"; classical blend {e.blend_shift:+.3f}" if abs(e.blend_shift) > 5e-4 else "")
            + (f"; document score {e.document_score:+.3f}"
               if e.document_score is not None and abs(e.document_score - e.score) > 5e-4 else ""))
