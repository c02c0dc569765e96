"""Side-by-side benchmark against coze-mock, after the workspace moved to the enterprise edition.

  1. the migration guide's recipe with cozepy: two Coze clients, try the personal one, on 4100/4101 retry with the enterprise
     one, vs cozefallback.Client (which remembers the route: one round trip per request after the first);
  2. cozefallback requests/s at 1 and 8 threads (the GIL is released while waiting);
  3. a raw httpx.Client call with the enterprise token to the same mock: the cost of the library.

Run (release wheel):  pip install ./bindings-python cozepy httpx && cargo build --release -p coze-mock
                      python bench/python/bench.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import logging
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, Dict

import cozepy
import httpx

import cozefallback

ROOT = Path(__file__).resolve().parents[2]


def start_mock() -> "tuple[subprocess.Popen[bytes], Dict[str, object]]":
    triple = os.environ.get("CARGO_BUILD_TARGET", "x86_64-unknown-linux-gnu")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    candidates = [os.environ.get("COZE_MOCK_BIN", "")] + [
        str(target / t / p / "coze-mock") for p in ("release", "debug") for t in (triple, "")
    ]
    binary = next(c for c in candidates if c and os.path.exists(c))
    tmp = tempfile.mkdtemp()
    info_file = os.path.join(tmp, "info.json")
    proc = subprocess.Popen([binary, "--info-file", info_file, "--keys-dir", tmp], stdout=subprocess.DEVNULL)
    while not (os.path.exists(info_file) and os.path.getsize(info_file)):
        time.sleep(0.02)
    time.sleep(0.05)
    return proc, json.loads(Path(info_file).read_text())


def per_request(fn: Callable[[], object], seconds: float) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return (time.perf_counter() - start) / n


def throughput(fn: Callable[[], object], threads: int, seconds: float) -> float:
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        while time.perf_counter() < stop:
            fn()
            counts[i] += 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    logging.getLogger("cozepy").setLevel(logging.ERROR)
    proc, info = start_mock()
    try:
        base = str(info["base_url"])
        urllib.request.urlopen(urllib.request.Request(base + "/__mock/state", data=b'{"moved": true}', method="POST",
                                                      headers={"content-type": "application/json"})).read()
        bot = str(info["bots"][0])  # type: ignore[index]
        personal = cozepy.Coze(auth=cozepy.TokenAuth(str(info["personal_pat"])), base_url=base)
        enterprise = cozepy.Coze(auth=cozepy.TokenAuth(str(info["enterprise_pat"])), base_url=base)

        def seed_recipe() -> object:
            try:
                return personal.bots.retrieve(bot_id=bot)
            except cozepy.CozeAPIError as e:
                if e.code in (4100, 4101):
                    return enterprise.bots.retrieve(bot_id=bot)
                raise

        client = cozefallback.Client({
            "base_url": base,
            "personal": {"type": "pat", "token": info["personal_pat"]},
            "enterprise": {"type": "pat", "token": info["enterprise_pat"]},
        })

        def fallback() -> object:
            return client.get("/v1/bot/get_online_info", query={"bot_id": bot})

        raw = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {info['enterprise_pat']}"})

        def raw_httpx() -> object:
            r = raw.get("/v1/bot/get_online_info", params={"bot_id": bot})
            r.raise_for_status()
            return r.json()

        s = args.seconds
        t_seed = per_request(seed_recipe, s)
        t_fb = per_request(fallback, s)
        t_raw = per_request(raw_httpx, s)
        rps1 = throughput(fallback, 1, s)
        rps8 = throughput(fallback, 8, s)
        seed8 = throughput(seed_recipe, 8, s)
        print(f"after the move, GET /v1/bot/get_online_info (cozepy bots.retrieve) against coze-mock ({s:.0f} s per measurement)")
        print(f"  seed recipe (cozepy, 2 clients, try/except 4100/4101): {t_seed * 1e6:8.0f} us/request")
        print(f"  cozefallback.Client:                                   {t_fb * 1e6:8.0f} us/request"
              f"   -> {t_seed / t_fb:.1f}x faster than the guide's recipe recipe")
        print(f"  raw httpx.Client (enterprise token, no fallback):      {t_raw * 1e6:8.0f} us/request"
              f"   -> cozefallback/raw time ratio {t_fb / t_raw:.2f}")
        print(f"  cozefallback requests/s: 1 thread {rps1:8.0f}, 8 threads {rps8:8.0f} ({rps8 / rps1:.1f}x)")
        print(f"  guide's recipe requests/s at 8 threads: {seed8:8.0f}")
        print(f"  (cozefallback metrics: {json.dumps(client.metrics()['requests'])})")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
