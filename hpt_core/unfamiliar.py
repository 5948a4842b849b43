"""Warnings for texts unlike anything the model was trained on.

Why: a classifier answers every text with its best guess. An emoji-only message or a text in a
language the model never saw still gets a full path (issue 21: "Psychology › Leadership" for a row
of emoji), and nothing tells the user that the answer means nothing. The model cannot say so
itself; what can be checked cheaply is whether the text's words are words the model knows.

A word is known when the backbone's tokenizer has it whole (an English uncased vocabulary of
~30,000 words for MiniLM and BERT) or the lexical channel's TF-IDF vocabulary has it (the training
corpus's words, names and jargon included). Words are what the TF-IDF channel reads: runs of two or
more letters or digits, lower-cased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The TF-IDF channel's own token pattern (scikit-learn's default): what a "word" is here.
WORD = re.compile(r"(?u)\b\w\w+\b")
#: Below this share of known words a text gets a warning.
MIN_KNOWN_SHARE = 0.5


@dataclass(frozen=True)
class KnownWords:
    """The words a model knows (see the module docstring)."""

    words: frozenset[str]

    @classmethod
    def of_model(cls, model) -> "KnownWords":
        """The tokenizer's whole words (not ``##`` pieces, not special tokens) and the lexical
        channel's one-word terms, if the model has a channel."""
        words = set()
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is not None:
            special = set(getattr(tokenizer, "all_special_tokens", []))
            words.update(w.lower() for w in tokenizer.get_vocab() if not w.startswith("##") and w not in special)
        lexical = getattr(model, "lexical", None)
        if lexical is not None:
            words.update(term for term in lexical.vocabulary if " " not in term)
        return cls(frozenset(words))

    def warnings(self, text: str) -> list[str]:
        """What is unusual about ``text`` for this model, one sentence each (empty: nothing)."""
        found = WORD.findall(text.lower())
        if not found:
            return ["the text has no words (only symbols, emoji or single characters): the prediction is a guess"]
        known = sum(1 for w in found if w in self.words)
        if known / len(found) < MIN_KNOWN_SHARE:
            return [f"only {known} of its {len(found)} words are known to the model (another language, or far "
                    "from the training texts?): the prediction may mean little"]
        return []
