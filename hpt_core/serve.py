"""An HTTP prediction server for a trained run (issue 24): ``python -m hpt_core serve --run-dir R``.

FastAPI + uvicorn (chosen over a hand-written server: request parsing, validation, OpenAPI docs at
``/docs`` and graceful shutdown come with them):

* ``POST /predict`` ``{"texts": [...]}`` → for each text its decided labels, the hierarchy-consistent
  labels as root-to-leaf paths and its best label scores; ``POST /explain`` ``{"text": ...,
  "labels": [...]}`` → the words behind each label's whole decided score (``hpt_core.explain``);
  ``GET /health``; ``GET /labels`` (the tree).
* **Dynamic micro-batching**: concurrent requests wait at most ``max_wait_ms`` to be scored
  together, up to ``max_batch`` texts, so throughput grows with concurrency; one worker thread
  runs the model (it is not thread-safe to share between batches) while the event loop keeps
  accepting requests.
* **Bounded inputs**: texts per request, characters per text and body bytes (``ServeLimits``); each
  violation is a 4xx JSON ``{"error": "..."}`` with one clear message, and any failure inside is a
  500 with the error's kind — never a traceback to the client.
* ``127.0.0.1`` by default: a model answers only this machine unless ``--host`` says otherwise.
"""

# No "from __future__ import annotations": FastAPI reads the request models of the endpoints below
# from their annotations, and those models are defined inside create_app.
import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from hpt_core.errors import HPTInputError
from hpt_core.inputs import check_text

logger = logging.getLogger("hpt_core.serve")


@dataclass(frozen=True)
class ServeLimits:
    """What one request may hold. Larger requests are refused (4xx), never cut silently."""

    max_texts: int = 64
    max_chars: int = 20_000
    max_body_bytes: int = 2_000_000
    max_explain_labels: int = 8
    top_scores: int = 10


class MicroBatcher:
    """Scores texts of concurrent requests together: a request's texts join the next batch, which
    is scored when it holds ``max_batch`` texts or ``max_wait_s`` after its first text arrived.

    ``score(texts) -> list`` runs in one worker thread (the model's forward pass releases the GIL,
    so the event loop keeps accepting requests meanwhile); each request gets its own slice back.
    """

    def __init__(self, score, max_batch: int = 32, max_wait_s: float = 0.005):
        self.score = score
        self.max_batch = max(1, int(max_batch))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self.batches = 0  # batches scored (for the load test and the tests)

    async def start(self) -> None:
        import concurrent.futures

        self._queue = asyncio.Queue()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpt-model")
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=True)

    async def submit(self, texts: list[str]) -> list:
        """The results of ``texts``, in order, once their batch is scored."""
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((list(texts), future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pending = [await self._queue.get()]
            size = len(pending[0][0])
            deadline = loop.time() + self.max_wait_s
            while size < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                pending.append(item)
                size += len(item[0])
            texts = [text for item, _ in pending for text in item]
            try:
                results = await loop.run_in_executor(self._pool, self.score, texts)
            except Exception as err:  # noqa: BLE001 — every waiting request gets the error, the loop goes on
                for _, future in pending:
                    if not future.done():
                        future.set_exception(err)
                continue
            self.batches += 1
            start = 0
            for item, future in pending:
                if not future.done():
                    future.set_result(results[start:start + len(item)])
                start += len(item)


def create_app(predictor, limits: ServeLimits | None = None, max_batch: int = 32, max_wait_ms: float = 5.0,
               name: str = "model"):
    """The FastAPI application serving ``predictor`` (a ``hpt_core.predict.Predictor``)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel

    limits = limits or ServeLimits()
    hierarchy = predictor.hierarchy

    from hpt_core.predict import prediction_record

    def score(texts: list[str]) -> list[dict]:
        return [prediction_record(p, limits.top_scores, hierarchy) for p in predictor.predict(texts)]

    batcher = MicroBatcher(score, max_batch=max_batch, max_wait_s=max_wait_ms / 1000)

    @asynccontextmanager
    async def lifespan(_app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="HPT prediction server", version="1", lifespan=lifespan,
                  description=f"Hierarchical text classification with the model of run {name!r}.")
    app.state.batcher = batcher

    class PredictRequest(BaseModel):
        texts: list[str]

    class ExplainRequest(BaseModel):
        text: str
        labels: list[str] | None = None
        steps: int = 20

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse(status_code=status, content={"error": message})

    @app.middleware("http")
    async def bounded_body(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            return refuse(413, f"request body of {int(declared):,} bytes; at most {limits.max_body_bytes:,}")
        if declared is None and request.method == "POST":  # a chunked body of unknown size: refused unread
            return refuse(411, "send the body with a Content-Length")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return refuse(422, f"{where or 'body'}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(HPTInputError)
    async def bad_input(_request, err: HPTInputError):
        return refuse(422, str(err))

    @app.exception_handler(Exception)
    async def failed(_request, err: Exception):
        logger.exception("request failed")
        return refuse(500, f"internal error ({type(err).__name__})")

    def check_texts(texts: list[str]) -> None:
        if not texts:
            raise HPTInputError("texts: give at least one text")
        if len(texts) > limits.max_texts:
            raise HPTInputError(f"texts: {len(texts)} texts; at most {limits.max_texts} a request")
        for i, text in enumerate(texts, start=1):
            if len(text) > limits.max_chars:
                raise HPTInputError(f"text {i}: {len(text):,} characters; at most {limits.max_chars:,}")
            try:  # checked here, not in the batch: one bad text must not fail the requests it shares a batch with
                check_text(text, None)
            except HPTInputError as err:
                raise HPTInputError(f"text {i}: {err.problem}") from None

    @app.post("/predict")
    async def predict(request: PredictRequest) -> dict:
        """Labels, paths and best scores of each text (scored with concurrent requests' texts)."""
        check_texts(request.texts)
        started = time.perf_counter()
        predictions = await batcher.submit(request.texts)
        return {"predictions": predictions, "seconds": round(time.perf_counter() - started, 4)}

    @app.post("/explain")
    async def explain_text(request: ExplainRequest) -> dict:
        """The words behind each label's whole decided score (default: the predicted path)."""
        from hpt_core.explain import explain

        check_texts([request.text])
        if request.labels is not None and len(request.labels) > limits.max_explain_labels:
            raise HPTInputError(f"labels: at most {limits.max_explain_labels} a request")
        if not 2 <= request.steps <= 200:
            raise HPTInputError("steps: between 2 and 200")
        loop = asyncio.get_running_loop()
        explanations = await loop.run_in_executor(batcher._pool, lambda: explain(
            predictor.classifier, request.text, request.labels, n_steps=request.steps))
        return {"explanations": [e.to_dict() for e in explanations]}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": name, "labels": len(hierarchy.labels), "depth": hierarchy.max_depth,
                "decision": predictor.decision, "batches_scored": batcher.batches}

    @app.get("/labels")
    async def labels() -> dict:
        """The label tree: each label with its parent (``null`` under the root) and depth."""
        return {"root": hierarchy.root, "labels": [
            {"name": label, "parent": hierarchy.labels[p] if p >= 0 else None, "depth": depth}
            for label, p, depth in zip(hierarchy.labels, hierarchy.parent_index, hierarchy.depths)]}

    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, device: str | None = None,
          precision: str = "fp32", max_batch: int = 32, max_wait_ms: float = 5.0,
          limits: ServeLimits | None = None) -> None:
    """Load the run's model once and serve it until interrupted (Ctrl-C or SIGTERM end it cleanly)."""
    import uvicorn

    from hpt_core.predict import Predictor

    predictor = Predictor.from_run(run_dir, device=device, precision=precision)
    app = create_app(predictor, limits, max_batch=max_batch, max_wait_ms=max_wait_ms, name=Path(run_dir).name)
    uvicorn.run(app, host=host, port=port, log_level="info")
