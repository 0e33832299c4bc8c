"""Soak: mixed traffic against one instance for a while; errors, latency and memory, reported.

Not part of CI (it takes minutes). Starts the assistant with the run script (its own SQLite file
and port), then several clients send, for --minutes: questions, follow-ups, quick replies, out of
scope, empty, too long and malformed messages. An error is any reply that is not what the channel
promises (200 with a text for a message, 400 for a malformed payload), or no reply. Memory (RSS of
the Rasa server and the action server) is sampled every 15 s; "flat" compares the average of the
last third of the run with that of the first third after warm-up.

Usage: .venv/bin/python scripts/soak.py [--minutes 10] [--clients 4]   (or: make soak)
"""
import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.assistant import Assistant  # noqa: E402

logger = logging.getLogger("soak")

CONVERSATIONS = [
    ["hi", "what can you do?", "what's your phone number?", "and the fax?", "thanks", "bye"],
    ["tell me about the Euroregional center", "where is it?", "when was it founded?", "who founded it?"],
    ["do you have partners in Japan?", "what about Lithuania?", "/ask_visiting_professors", "who pays for it?"],
    ["what's the weather like tomorrow?", "", "   ", "x" * 5000, "Gdzie jest centrum? 😀", "'; DROP TABLE events; --"],
]
MALFORMED = [b"{not json", b"[1,2]", b'{"sender": "s", "message": 5}', b"\xff\xfe"]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> List[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def client(url: str, stop: float, n: int, stats: Dict[str, list], lock: threading.Lock) -> None:
    rnd = random.Random(n)
    turn = 0
    while time.monotonic() < stop:
        sender = f"soak-{n}-{turn}"
        for text in rnd.choice(CONVERSATIONS):
            if time.monotonic() >= stop:
                break
            malformed = rnd.random() < 0.1
            body = rnd.choice(MALFORMED) if malformed else json.dumps({"sender": sender, "message": text}).encode()
            started = time.monotonic()
            try:
                r = requests.post(f"{url}/webhooks/rest/webhook", data=body, timeout=60)
                ok = r.status_code == 400 if malformed else (r.status_code == 200 and bool(r.json()) and all(m.get("text") for m in r.json()))
                problem = None if ok else f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                problem = f"{type(e).__name__}: {e}"
            with lock:
                stats["latency"].append(time.monotonic() - started)
                if problem:
                    stats["errors"].append(problem)
        turn += 1


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    assistant = Assistant(workdir).start()
    try:
        servers = children(assistant.proc.pid)
        stats: Dict[str, list] = {"latency": [], "errors": []}
        lock = threading.Lock()
        stop = time.monotonic() + args.minutes * 60
        threads = [threading.Thread(target=client, args=(assistant.url, stop, n, stats, lock)) for n in range(args.clients)]
        for t in threads:
            t.start()
        memory: List[Tuple[float, List[int]]] = []
        while any(t.is_alive() for t in threads):
            memory.append((time.monotonic(), [rss_kb(p) for p in servers]))
            logger.info("%d requests, %d errors, RSS %s MB", len(stats["latency"]), len(stats["errors"]),
                        [round(kb / 1024) for kb in memory[-1][1]])
            time.sleep(15)
        for t in threads:
            t.join()
    finally:
        assistant.stop()
    lat = sorted(stats["latency"])
    third = max(1, len(memory) // 3)
    first = [statistics.mean(m[1][i] for m in memory[1:1 + third]) / 1024 for i in range(len(servers))]
    last = [statistics.mean(m[1][i] for m in memory[-third:]) / 1024 for i in range(len(servers))]
    report = {
        "minutes": args.minutes,
        "clients": args.clients,
        "requests": len(lat),
        "errors": len(stats["errors"]),
        "first_errors": stats["errors"][:5],
        "requests_per_second": round(len(lat) / (args.minutes * 60), 1),
        "latency_ms_p50_p95_max": [round(1000 * lat[int(q * (len(lat) - 1))]) for q in (0.5, 0.95, 1.0)],
        "rss_mb_first_third_vs_last_third": {f"pid {p}": [round(a), round(b)] for p, a, b in zip(servers, first, last)},
    }
    print(json.dumps(report, indent=2))
    return 1 if stats["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
