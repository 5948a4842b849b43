"""The HTTP prediction server (hpt_core/serve.py): answers, bounds, errors, micro-batching."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from hpt_core.predict import Predictor  # noqa: E402
from hpt_core.serve import MicroBatcher, ServeLimits, create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(trained_run):
    predictor = Predictor.from_run(trained_run, device="cpu")
    app = create_app(predictor, ServeLimits(max_texts=4, max_chars=200, max_body_bytes=5_000), name="tiny-hpt")
    with TestClient(app, raise_server_exceptions=False) as test_client:  # runs the lifespan (the batcher)
        test_client.predictor = predictor
        yield test_client


def test_predict_answers_what_the_predictor_decides(client):
    texts = ["we saw a penalty goal today", "a bronze sculpture in the gallery"]
    response = client.post("/predict", json={"texts": texts})
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    expected = client.predictor.predict(texts)
    assert [a["paths"] for a in answers] == [p.paths for p in expected]
    assert [a["labels"] for a in answers] == [p.labels for p in expected]
    best = max(expected[0].scores.items(), key=lambda item: item[1])
    assert answers[0]["top_scores"][0]["label"] == best[0]
    assert answers[0]["top_scores"][0]["score"] == pytest.approx(best[1], abs=1e-5)


def test_health_and_labels_describe_the_model(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny-hpt"
    h = client.predictor.hierarchy
    assert health["labels"] == len(h.labels) and health["depth"] == h.max_depth
    labels = client.get("/labels").json()["labels"]
    assert {x["name"] for x in labels} == set(h.labels)
    assert all(x["parent"] is None for x in labels if x["depth"] == 1)
    assert client.get("/docs").status_code == 200  # the OpenAPI page


@pytest.mark.parametrize("body, status, message", [
    ({"texts": []}, 422, "at least one text"),
    ({"texts": ["a"] * 5}, 422, "at most 4 a request"),
    ({"texts": ["x" * 201]}, 422, "at most 200"),
    ({"texts": ["   "]}, 422, "empty text"),
    ({"texts": "not a list"}, 422, "texts"),
    ({"words": ["a"]}, 422, "texts"),
    ({"texts": ["a" * 100] * 4 + ["b" * 5_000]}, 413, "at most 5,000"),
])
def test_every_bad_request_is_one_clear_json_error(client, body, status, message):
    response = client.post("/predict", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert message in error and "Traceback" not in error


def test_a_failure_inside_is_a_500_without_a_traceback(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(client.predictor, "predict", broken)
    response = client.post("/predict", json={"texts": ["a text"]})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error (RuntimeError)"}


def test_explain_gives_the_whole_score_in_parts(client):
    response = client.post("/explain", json={"text": "we saw a penalty goal today", "steps": 4})
    assert response.status_code == 200, response.text
    for item in response.json()["explanations"]:
        assert sum(item["parts"].values()) == pytest.approx(item["document_score"], abs=1e-3)
    assert client.post("/explain", json={"text": "goal", "steps": 1}).status_code == 422
    assert "unknown label" in client.post("/explain", json={"text": "goal", "labels": ["nope"]}).json()["error"]


def test_concurrent_requests_are_scored_together():
    """Dynamic micro-batching: 12 requests arriving together are scored in a few batches, each
    request getting its own texts' results back in order."""
    calls = []

    def score(texts):
        calls.append(list(texts))
        return [f"scored {t}" for t in texts]

    async def main():
        batcher = MicroBatcher(score, max_batch=8, max_wait_s=0.05)
        await batcher.start()
        try:
            results = await asyncio.gather(*(batcher.submit([f"t{i}", f"u{i}"]) for i in range(12)))
        finally:
            await batcher.stop()
        return results

    results = asyncio.run(main())
    assert results == [[f"scored t{i}", f"scored u{i}"] for i in range(12)]
    assert len(calls) <= 4 and max(len(c) for c in calls) <= 8 + 1  # a batch closes once it holds 8 texts
    assert sum(len(c) for c in calls) == 24


def test_the_cli_refuses_a_bad_port_in_one_line(capsys):
    from hpt_core.cli import main

    assert main(["serve", "--run-dir", "nowhere", "--port", "0"]) != 0
    assert "--port" in capsys.readouterr().err
