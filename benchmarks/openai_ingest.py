"""Completions per second that tais sustains from an OpenAI-compatible server that answers at once, with the run
store committing every completion.

The server is tais's loopback server (``tais.testing.loopback``) in its own process on 127.0.0.1; it answers
each chat request immediately with an 8-token text, top-5 logprobs and token ids. Measured side by side in one run:

1. ``httpx``: a bare httpx 0.28 ``AsyncClient`` posting the same bodies (no tais code, no store), for reference;
2. ``engine``: tais's ``OpenAIEngine.generate`` (aiohttp, retry bookkeeping, parsing into ``Completion``), no store;
3. ``engine+store``: the same, each completion committed to a real SQLite ``RunStore`` (WAL, ``synchronous=NORMAL``)
   in its own transaction before it counts, as ``tais run`` does today;
4. ``engine+group-commit``: the same completions written by a minimal SQLite loop of this script (WAL,
   ``synchronous=NORMAL``, same canonical JSON per row) that commits, in one transaction, every completion that arrived
   within 20 ms (at most 256): the rate a store that groups its commits would allow. Each completion still counts only
   after its transaction commits.

Usage: ``python benchmarks/openai_ingest.py [--n 20000] [--concurrency 32]``. The last line is JSON; its
``completions_per_s`` is the ``engine+store`` figure; the goal is >= 2,000/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tais.engines.openai import OpenAIEngine
from tais.engines.vllm.server import free_port
from tais.store.canonical import canonical_json
from tais.store.run_store import CompletionKey, RunStore
from tais.types import ArmSpec, ChatMessage, Request, SamplingParams

GOAL = 2000.0


def requests_for(n: int) -> list[Request]:
    return [
        Request(f"bench/{i}", SamplingParams(max_tokens=8, logprobs=5), messages=(ChatMessage("user", f"prompt {i}"),))
        for i in range(n)
    ]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tais.testing.loopback", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("loopback server did not start")


async def bare_httpx(url: str, requests: list[Request], concurrency: int) -> float:
    bodies = iter(
        json.dumps(
            {
                "model": "smollm2",
                "messages": [{"role": "user", "content": r.messages[0].content}],
                "max_tokens": 8,
                "logprobs": True,
                "top_logprobs": 5,
            }
        ).encode()
        for r in requests
    )
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for body in bodies:
                response = await client.post(
                    "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
                )
                response.json()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def bench_engine(url: str, concurrency: int) -> tuple[ArmSpec, OpenAIEngine]:
    """The benchmark's openai arm and its engine, preflight done (so the timed part is generation only)."""
    arm = ArmSpec(
        name="bench",
        backend="openai",
        model="smollm2",
        options={"base_url": url, "concurrency": concurrency, "extra_body": {"return_token_ids": True}},
    )
    engine = OpenAIEngine.from_arm(arm)
    engine.server_info()
    return arm, engine


async def engine_run(url: str, requests: list[Request], concurrency: int, store: RunStore | None) -> float:
    arm, engine = bench_engine(url, concurrency)
    fingerprint = "bench-" + str(concurrency)
    if store is not None:
        store.put_arm(fingerprint, arm.name, arm.to_dict(), engine.describe())
    count = 0
    started = time.perf_counter()
    async for completion in engine.generate(requests):
        if store is not None:
            key = CompletionKey(completion.item_id, completion.replicate, "r" + completion.item_id)
            store.add_completion(fingerprint, key, completion)
        count += 1
    elapsed = time.perf_counter() - started
    assert count == len(requests)
    return elapsed


async def engine_group_commit(url: str, requests: list[Request], concurrency: int, path: Path) -> float:
    _, engine = bench_engine(url, concurrency)
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE completions (item_id TEXT, replicate INTEGER, json TEXT, PRIMARY KEY (item_id, replicate))"
    )
    pending: list[tuple[str, int, str]] = []
    committed = 0
    last = started = time.perf_counter()

    def commit() -> int:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR IGNORE INTO completions VALUES (?, ?, ?)", pending)
        db.execute("COMMIT")
        n = len(pending)
        pending.clear()
        return n

    async for completion in engine.generate(requests):
        pending.append((completion.item_id, completion.replicate, canonical_json(completion.to_dict())))
        if len(pending) >= 256 or time.perf_counter() - last > 0.02:
            committed += commit()
            last = time.perf_counter()
    committed += commit()
    elapsed = time.perf_counter() - started
    stored = db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    db.close()
    assert committed == stored == len(requests)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--store-dir", type=Path, default=None, help="folder for the SQLite files (default: $TMPDIR)")
    args = parser.parse_args()
    requests = requests_for(args.n)
    process, url = start_server()
    figures: dict[str, float] = {}
    try:
        asyncio.run(engine_run(url, requests[:500], args.concurrency, None))  # warm-up
        figures["httpx"] = args.n / asyncio.run(bare_httpx(url, requests, args.concurrency))
        figures["engine"] = args.n / asyncio.run(engine_run(url, requests, args.concurrency, None))
        if args.store_dir:
            Path(args.store_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=args.store_dir) as tmp:
            with RunStore(Path(tmp) / "run.sqlite") as store:
                figures["engine+store"] = args.n / asyncio.run(engine_run(url, requests, args.concurrency, store))
                stored = store.count_completions()
            figures["engine+group-commit"] = args.n / asyncio.run(
                engine_group_commit(url, requests, args.concurrency, Path(tmp) / "group.sqlite")
            )
    finally:
        process.terminate()
        process.wait()
    assert stored == args.n, f"store holds {stored} completions, expected {args.n}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"machine: {platform.machine()}, {cores} usable cores; store in {args.store_dir or tempfile.gettempdir()}; "
        f"{args.n} chat completions, {args.concurrency} in flight, loopback server in its own process"
    )
    for name, rate in figures.items():
        print(f"  {name:<20} {rate:>9,.0f} completions/s")
    result = {
        "benchmark": "openai_ingest",
        "completions_per_s": round(figures["engine+store"]),
        "engine_only_per_s": round(figures["engine"]),
        "engine_group_commit_per_s": round(figures["engine+group-commit"]),
        "bare_httpx_per_s": round(figures["httpx"]),
        "n": args.n,
        "concurrency": args.concurrency,
        "cores": cores,
        "goal_per_s": GOAL,
        "meets_goal": figures["engine+store"] >= GOAL,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
