"""TF-IDF over word unigrams and bigrams of the whole text: the sparse features of both add-ons
around the model (the lexical channel and the classical blend), fitted, saved and restored one way.

``sublinear_tf``, ``min_df=2`` (``min_df=1`` when every term occurs once: too little text), rows
L2-normalised, float32. The columns are bounded by a budget of weights shared with the outputs
(labels or classes) a linear model puts on them: ``max_weights // outputs`` columns, between
``MIN_FEATURES`` and ``MAX_FEATURES`` — the fit's cost grows with columns × outputs.
"""

from __future__ import annotations

import numpy as np

MAX_FEATURES = 262_144
MIN_FEATURES = 1_000


def vectorizer(vocabulary: dict[str, int] | None = None, max_features: int | None = None):
    """An unfitted scikit-learn ``TfidfVectorizer`` with our settings (a given ``vocabulary``: its
    columns, kept whatever their frequency)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1 if vocabulary else 2,
                           max_features=max_features, vocabulary=vocabulary, dtype=np.float32)


def columns_for(n_outputs: int, max_weights: int) -> int:
    """The most columns for a linear model of ``n_outputs`` outputs within ``max_weights`` weights."""
    return max(MIN_FEATURES, min(MAX_FEATURES, max_weights // max(n_outputs, 1)))


def fit(texts: list[str], max_features: int):
    """A vectorizer fitted on ``texts`` (at most ``max_features`` columns) and their rows (N, V)
    scipy CSR."""
    fitted = vectorizer(max_features=max_features)
    try:
        return fitted, fitted.fit_transform(list(texts))
    except ValueError:  # every term occurs once: too little text for min_df=2
        fitted = vectorizer(max_features=max_features)
        fitted.min_df = 1
        return fitted, fitted.fit_transform(list(texts))


def vocabulary_of(fitted) -> list[str]:
    """A fitted vectorizer's terms in column order (what a model folder saves)."""
    return [term for term, _ in sorted(fitted.vocabulary_.items(), key=lambda item: item[1])]


def restore(vocabulary: list[str], idf) -> object:
    """The vectorizer of a saved ``vocabulary`` (column order) and ``idf`` (V,), ready to transform."""
    restored = vectorizer({term: i for i, term in enumerate(vocabulary)})
    restored.idf_ = np.asarray(idf, dtype=np.float64)
    return restored
