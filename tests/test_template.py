import pytest

from hpt_core.template import tokenize_texts, tokenize_windows, window_starts, text_budget


@pytest.fixture()
def model(tiny_backbone, hierarchy):
    from hpt_core.methods import resolve_method
    from hpt_core.model import build_model

    return build_model(resolve_method("hpt", backbone=tiny_backbone, max_length=32), hierarchy)


def test_window_starts_step_by_the_window_minus_the_overlap_up_to_the_cap():
    assert window_starts(100, budget=30, max_windows=10, overlap=10) == [0, 20, 40, 60, 80]
    assert window_starts(100, budget=30, max_windows=3, overlap=10) == [0, 20, 40]
    assert window_starts(30, budget=30, max_windows=3, overlap=10) == [0]  # fits: one window
    assert window_starts(31, budget=30, max_windows=3, overlap=10) == [0, 20]


def test_one_window_is_exactly_the_truncated_text(model):
    texts = ["goal striker " * 40, "lens", ""]
    windows, totals, read = tokenize_windows(model.tokenizer, texts, model.layout, 32)
    assert [w[0] for w in windows] == tokenize_texts(model.tokenizer, texts, model.layout, 32)
    assert [len(w) for w in windows] == [1, 1, 1]
    assert totals == [80, 1, 0] and read == [text_budget(model.layout, 32), 1, 0]


def test_windows_overlap_and_read_the_whole_text_within_the_cap(model):
    words = [f"{w}" for w in ["goal", "striker", "pitch", "penalty", "racket", "serve", "court", "volley"]] * 8
    budget = text_budget(model.layout, 32)  # 32 - [CLS] [SEP] - 6 template slots - [SEP] = 23
    windows, totals, read = tokenize_windows(model.tokenizer, [" ".join(words)], model.layout, 32,
                                             max_windows=4, overlap=5)
    ids = model.tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    [doc] = windows
    assert len(doc) == 4 and all(len(w) <= budget for w in doc)
    assert doc[0] == ids[:budget] and doc[1][:5] == doc[0][-5:]  # consecutive windows share 5 tokens
    assert doc[-1][-1] == ids[-1] and totals == [64] and read == [64]
    _, _, capped = tokenize_windows(model.tokenizer, [" ".join(words)], model.layout, 32, max_windows=2, overlap=5)
    assert capped == [budget + budget - 5]
