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
