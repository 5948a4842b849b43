from hpt_core.unfamiliar import KnownWords


def test_emoji_and_other_scripts_are_flagged_and_ordinary_text_is_not():
    known = KnownWords(frozenset(["the", "battery", "died", "after", "two", "days", "of", "use"]))
    assert "no words" in known.warnings("😀😀🎉 🎉 !!")[0]
    assert "0 of its" in known.warnings("هذا المنتج رائع جدا")[0]
    assert known.warnings("我喜欢这个产品") and known.warnings("Der Akku war nach zwei Tagen leer")
    assert known.warnings("The battery died after two days of use!") == []


def test_a_model_knows_its_tokenizer_words_and_its_lexical_channel_terms(tiny_backbone):
    from hpt_core.backbone import load_backbone

    _, tokenizer = load_backbone(tiny_backbone)

    class Model:
        pass

    model = Model()
    model.tokenizer, model.lexical = tokenizer, None
    without = KnownWords.of_model(model)
    assert not any(w.startswith("##") for w in without.words)
    assert not set(tokenizer.all_special_tokens) & without.words

    class Lexical:
        vocabulary = ["zzyzx", "zzyzx road"]

    model.lexical = Lexical()
    with_channel = KnownWords.of_model(model)
    assert "zzyzx" in with_channel.words and "zzyzx road" not in with_channel.words
