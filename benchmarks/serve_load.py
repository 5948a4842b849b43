"""Load test of the prediction server (issue 24): the server started on localhost for a run, then a
bounded number of ``POST /predict`` requests (one text each, from a corpus file) from 1, 8 and 32
concurrent clients; requests/s, texts/s, p50 / p99 latency per level, and the server's peak
resident memory over everything sent.

    python benchmarks/serve_load.py --run-dir runs/20ng-default --texts ../shared/data/benchmarks/20ng/test.jsonl \
        [--requests 500] [--concurrency 1,8,32] [--max-batch 32] [--max-wait-ms 5]

Run alone: the server and the clients share the machine, as they would on one host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _texts(path: Path, n: int, max_chars: int) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            out.append(json.loads(line)["text"][:max_chars])
        if len(out) == n:
            break
    return out


def _peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """The process's peak resident memory (``VmRSS``: its resident memory now), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _level(url: str, texts: list[str], concurrency: int) -> dict:
    import httpx

    latencies, queue = [], list(texts)
    async with httpx.AsyncClient(timeout=300) as client:
        async def worker():
            while queue:
                text = queue.pop()
                started = time.perf_counter()
                response = await client.post(f"{url}/predict", json={"texts": [text]})
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {"concurrency": concurrency, "requests": len(latencies), "seconds": round(seconds, 2),
            "requests_per_s": round(len(latencies) / seconds, 2), "texts_per_s": round(len(latencies) / seconds, 2),
            "p50_ms": round(1000 * pick(0.5), 1), "p99_ms": round(1000 * pick(0.99), 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--texts", required=True, type=Path)
    parser.add_argument("--requests", type=int, default=500, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-chars", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1,
                        help="send each level's requests this many times, the server's resident memory after each "
                             "(memory flat in the requests served: --requests 1000 --concurrency 32 --rounds 10)")
    args = parser.parse_args(argv)
    import httpx

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "hpt_core", "serve", "--run-dir", args.run_dir, "--port", str(port),
                               "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the server did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.5)
        texts = _texts(args.texts, args.requests, args.max_chars)
        asyncio.run(_level(url, texts[:8], 1))  # warm-up, not reported
        for level in (int(c) for c in args.concurrency.split(",")):
            for round_ in range(1, args.rounds + 1):
                result = asyncio.run(_level(url, texts, level))
                result["server_peak_rss_mb_so_far"] = round(_peak_rss_mb(server.pid), 1)
                if args.rounds > 1:
                    result.update(round=round_, server_rss_mb_now=round(_peak_rss_mb(server.pid, "VmRSS"), 1))
                print(json.dumps(result), flush=True)
        print(json.dumps({"batches_scored": httpx.get(f"{url}/health").json()["batches_scored"]}))
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
