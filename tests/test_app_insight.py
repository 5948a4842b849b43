"""The app's "see why" features with ``AppTest``: zero-shot predictions, explanations, the error browser
and one-click experiments (pages/_zero_shot_ui.py, _explain_ui.py, _errors_ui.py, _experiment_ui.py)."""

from __future__ import annotations

from test_app import by_label, empty_workspace, ok, open_page, texts, workspace  # noqa: F401  (fixtures)


def test_predict_zero_shot_right_after_a_taxonomy_without_any_run(empty_workspace):  # noqa: F811
    at = open_page("predict")
    ok(at, "predict")
    at.toggle(key="zs_on").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "chosen on 108 dev documents" in texts(at.caption)
    at.text_area(key="zs_text").input("My card was declined when I tried to pay the bill")
    by_label(at.button, "Predict (zero-shot)").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    table = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert table["predicted"].any() and table["depth"].min() == 1
    assert "Paths" in texts(at.markdown)


def test_predict_explains_the_path_and_any_label_with_escaped_text(workspace):  # noqa: F811
    at = open_page("predict")
    at.text_area(key="predict_text").input("we saw a <b>penalty</b> goal today")
    by_label(at.button, "Predict").click()
    at.run()
    by_label(at.button, "Explain").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    shown = at.get("html")
    assert shown, "no highlighted text"
    body = shown[0].proto.body
    assert "<b>" not in body and "&lt;" in body and "penalty" in body
    table = next(d.value for d in at.dataframe if "word" in d.value.columns)
    assert table["word"].tolist()[:3] == ["we", "saw", "a"] and any(c.startswith("depth 1: ") for c in table.columns)
    assert "convergence delta" in texts(at.markdown) and "integrated gradients" in texts(at.caption)

    at.button_group(key="predict_explain_mode").set_value("any label").run()
    at.selectbox(key="predict_explain_label").set_value("optics")
    by_label(at.button, "Explain").click()
    at.run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "word" in d.value.columns)
    assert list(table.columns) == ["position", "word", "depth 3: optics"]


def test_results_error_browser_filters_opens_and_downloads(workspace):  # noqa: F811
    at = open_page("results")
    at.toggle(key="err_on").set_value(True).run()
    assert not at.exception and not at.error, texts(at.error)
    everything = next(d.value for d in at.dataframe if "kinds" in d.value.columns)
    assert len(everything) and (everything["kinds"] != "").all()  # by default: the documents with an error
    at.selectbox(key="err_kind").set_value("all documents").run()
    every = next(d.value for d in at.dataframe if "kinds" in d.value.columns)
    assert len(every) == 24 > len(everything)  # every test document
    at.selectbox(key="err_depth").set_value(1).run()
    assert not at.exception
    at.selectbox(key="err_kind").set_value("missed").run()
    missed = next(d.value for d in at.dataframe if "kinds" in d.value.columns)
    assert missed["kinds"].str.contains("missed").all() and missed["error_depths"].str.contains("1").all()
    downloads = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Download these") for label in downloads)
    assert "Download this matrix (CSV)" in downloads
    matrix = next(d.value for d in at.dataframe if d.value.index.name == "gold")
    assert list(matrix.columns) == ["sports", "science", "arts", "(none)"]
    at.selectbox(key="err_parent").set_value("physics").run()
    matrix = next(d.value for d in at.dataframe if d.value.index.name == "gold")
    assert list(matrix.index) == ["quantum", "optics", "(none)"]

    at.selectbox(key="err_kind").set_value("any").run()
    at.selectbox(key="err_depth").set_value("any").run()
    opened = at.selectbox(key="err_doc").value
    assert f"Document #{opened}" in texts(at.markdown)
    by_label(at.button, "Explain").click()
    at.run()
    assert not at.exception and at.get("html")
