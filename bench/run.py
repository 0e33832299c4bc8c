"""Benchmark: this assistant against the same data on Rasa's default configuration, in one run.

For each system: train from scratch (fresh training cache), start the real servers (scripts/serve.py:
Rasa + action server, SQLite tracker store as shipped), time to the first REST reply, resident
memory after warm-up, latency and throughput of multi-turn conversations over the REST channel at 1
and at 8 concurrent clients, and held-out intent accuracy. Also checks what a change of stories or
of facts costs in training. Prints one table, writes it as JSON and a PNG chart.

    make bench            # or: .venv/bin/python bench/run.py [--requests-1 N] [--requests-8 N]
"""
import argparse
import asyncio
import json
import logging
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.facts import parse as parse_facts  # noqa: E402
from scripts.assistant import free_port  # noqa: E402
from staff.evaluation import questions, score  # noqa: E402

logger = logging.getLogger("bench")

SYSTEMS = {"umb": ROOT / "config.yml", "stock": ROOT / "bench" / "stock_config.yml"}
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
# the second set was written blind (no model consulted) after the first had guided training data
FRESH = ROOT / "tests" / "nlu" / "heldout_fresh.yml"
OUT = ROOT / "reports" / "bench"
RASA = str(Path(sys.executable).with_name("rasa"))
TOPIC_INTENTS = ("ask_contact", "ask_partnerships", "ask_euroregional_center", "ask_visiting_professors")


def run_rasa(args: List[str], cwd: Path, cache: Path) -> Tuple[float, str]:
    """Run a rasa command; its wall time and log."""
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    done = subprocess.run([RASA, *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"rasa {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


def trained_components(log: str) -> List[str]:
    return re.findall(r"Starting to train component '(\w+)'", log)


def train(system: str, work: Path) -> Tuple[Path, float]:
    """Train from scratch: a fresh output folder and an empty training cache."""
    out = work / f"models-{system}"
    seconds, _ = run_rasa(
        ["train", "--config", str(SYSTEMS[system]), "--out", str(out), "--fixed-model-name", system],
        ROOT, work / f"cache-{system}",
    )
    return out / f"{system}.tar.gz", seconds


def incremental_training(work: Path) -> Dict[str, Any]:
    """In a copy of the project: what retrains after a story change, and after a facts change."""
    project = work / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".venv", "models", "reports", "results", ".git", "*.db"))
    cache = work / "cache-umb"  # from the from-scratch training: the copy's first training reuses it
    args = ["train", "--out", "models", "--fixed-model-name", "current"]
    run_rasa(args, project, cache)
    stories = project / "data" / "stories" / "conversations.yml"
    stories.write_text(stories.read_text() + (
        "\n- story: benchmark change\n  steps:\n  - intent: greet\n  - action: utter_greet\n"
        "  - intent: ask_last_update\n  - action: action_answer_last_update\n"
    ))
    story_seconds, story_log = run_rasa(args, project, cache)
    facts = project / "data" / "facts.yml"
    phone = parse_facts(facts)["contact"]["phone"]
    facts.write_text(facts.read_text().replace(phone, "+48 85 000 00 00"))
    facts_seconds, facts_log = run_rasa(args, project, cache)
    return {
        "stories_changed": {"seconds": round(story_seconds, 1), "retrained": trained_components(story_log)},
        "facts_changed": {"seconds": round(facts_seconds, 1), "retrained": trained_components(facts_log)},
    }


def conversations(count: int, seed: int = 7) -> List[List[str]]:
    """Three turns each: a topic question, a follow-up relying on it, a contact question."""
    by_intent: Dict[str, List[str]] = {}
    for example in questions(HELDOUT):
        by_intent.setdefault(example.get("intent"), []).append(example.get("text"))
    rng = random.Random(seed)
    return [
        [
            rng.choice(by_intent[rng.choice(TOPIC_INTENTS)]),
            rng.choice(by_intent["ask_followup"]),
            rng.choice(by_intent["ask_contact"] + by_intent["out_of_scope"]),
        ]
        for _ in range(count)
    ]


async def load(url: str, convs: List[List[str]], clients: int, tag: str) -> Dict[str, Any]:
    """Play the conversations with `clients` concurrent clients; each conversation has its own sender."""
    queue: asyncio.Queue = asyncio.Queue()
    for i, turns in enumerate(convs):
        queue.put_nowait((f"bench-{tag}-{i}", turns))
    latencies: List[float] = []
    errors = empty = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors, empty
        while not queue.empty():
            sender, turns = queue.get_nowait()
            for text in turns:
                start = time.perf_counter()
                try:
                    async with session.post(url, json={"sender": sender, "message": text}) as r:
                        body = await r.json()
                        ok = r.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                    ok, body = False, None
                latencies.append(time.perf_counter() - start)
                errors += not ok
                empty += ok and not body

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=clients)) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - start
    ms = sorted(x * 1000 for x in latencies)
    pick = lambda q: round(ms[min(len(ms) - 1, int(q * len(ms)))], 1)  # noqa: E731
    return {
        "requests": len(ms), "errors": errors, "empty_replies": empty, "rps": round(len(ms) / wall, 1),
        "p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "mean_ms": round(statistics.mean(ms), 1),
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    children: Dict[int, List[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            total += int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{p}/status").read_text()).group(1))
        except (OSError, AttributeError):
            pass
    return round(total / 1024, 1)


def server_command(system: str, model: Path, port: int, action_port: int) -> List[str]:
    """This assistant through its run command; the reference as plain `rasa run` + `rasa run actions`."""
    if system == "umb":
        return [sys.executable, str(ROOT / "scripts" / "serve.py")]
    return ["bash", "-c", (
        f"{RASA} run actions --actions actions --port {action_port} & "
        f"exec {RASA} run --model {model} --port {port} --interface 127.0.0.1 "
        f"--endpoints bench/stock_endpoints.yml --credentials bench/stock_credentials.yml"
    )]


def serve_and_load(system: str, model: Path, work: Path, n1: int, n8: int) -> Dict[str, Any]:
    port, action_port = free_port(), free_port()
    env = {
        **os.environ, "RASA_MODEL": str(model), "RASA_PORT": str(port), "ACTION_PORT": str(action_port),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
        "TRACKER_DB": str(work / f"tracker-{system}.db"), "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    log = open(work / f"serve-{system}.log", "w")
    start = time.perf_counter()
    proc = subprocess.Popen(server_command(system, model, port, action_port), cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ready = asyncio.run(first_reply(url, proc))
        ready_seconds = time.perf_counter() - start
        asyncio.run(load(url, conversations(20, seed=1), 2, f"{system}-warmup"))
        memory = rss_mb(proc.pid)
        one = asyncio.run(load(url, conversations(n1 // 3, seed=2), 1, f"{system}-c1"))
        eight = asyncio.run(load(url, conversations(n8 // 3, seed=3), 8, f"{system}-c8"))
        return {"ready_s": round(ready_seconds, 1), "first_reply": ready, "memory_mb": memory, "c1": one, "c8": eight}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


async def first_reply(url: str, proc: subprocess.Popen) -> str:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while proc.poll() is None:
            try:
                async with session.post(url, json={"sender": "bench-ready", "message": "what is your phone number?"}) as r:
                    body = await r.json()
                    if r.status == 200 and body:
                        return body[0].get("text", "")
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the servers exited before answering")


def accuracy(model: Path) -> Dict[str, float]:
    """Intent accuracy on each held-out set, and on both together (staff/evaluation.py)."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    scored = {name: asyncio.run(score(agent, questions(path))) for name, path in (("heldout", HELDOUT), ("fresh", FRESH))}
    right, total = sum(s.right for s in scored.values()), sum(s.total for s in scored.values())
    return {**{name: round(s.accuracy, 3) for name, s in scored.items()}, "both": round(right / total, 3)}


ROWS = [
    ("train from scratch (s)", lambda r: r["train_s"]),
    ("time to ready (s)", lambda r: r["ready_s"]),
    ("memory after warm-up (MB)", lambda r: r["memory_mb"]),
    ("1 client p50 (ms)", lambda r: r["c1"]["p50_ms"]),
    ("1 client p95 (ms)", lambda r: r["c1"]["p95_ms"]),
    ("1 client req/s", lambda r: r["c1"]["rps"]),
    ("8 clients p50 (ms)", lambda r: r["c8"]["p50_ms"]),
    ("8 clients p95 (ms)", lambda r: r["c8"]["p95_ms"]),
    ("8 clients p99 (ms)", lambda r: r["c8"]["p99_ms"]),
    ("8 clients req/s", lambda r: r["c8"]["rps"]),
    ("errors (1 + 8 clients)", lambda r: r["c1"]["errors"] + r["c8"]["errors"]),
    ("intent accuracy, held-out (169)", lambda r: r["accuracy"]["heldout"]),
    ("intent accuracy, fresh held-out (60)", lambda r: r["accuracy"]["fresh"]),
    ("intent accuracy, both (229)", lambda r: r["accuracy"]["both"]),
]


def table(results: Dict[str, Dict[str, Any]]) -> str:
    lines = ["| metric | this assistant | stock Rasa | ratio |", "| --- | ---: | ---: | ---: |"]
    for name, get in ROWS:
        ours, stock = get(results["umb"]), get(results["stock"])
        ratio = f"{ours / stock:.2f}" if stock else "-"
        lines.append(f"| {name} | {ours} | {stock} | {ratio} |")
    return "\n".join(lines)


def chart(results: Dict[str, Dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("8 clients req/s", "higher is better"), ("8 clients p95 (ms)", "lower is better"),
              ("time to ready (s)", "lower is better"), ("memory after warm-up (MB)", "lower is better")]
    getters = dict(ROWS)
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 3.5))
    for ax, (name, note) in zip(axes, panels):
        values = [getters[name](results[s]) for s in ("umb", "stock")]
        ax.bar(["this assistant", "stock Rasa"], values, color=["#1f77b4", "#999999"])
        ax.set_title(f"{name}\n({note})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-1", type=int, default=150, help="requests at 1 client (per system)")
    parser.add_argument("--requests-8", type=int, default=480, help="requests at 8 clients (per system)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="umb-bench-") as tmp:
        work = Path(tmp)
        for system in SYSTEMS:
            logger.info("%s: training", system)
            model, seconds = train(system, work)
            results[system] = {"train_s": round(seconds, 1)}
            logger.info("%s: serving and loading", system)
            results[system].update(serve_and_load(system, model, work, args.requests_1, args.requests_8))
            logger.info("%s: held-out accuracy", system)
            results[system]["accuracy"] = accuracy(model)
        logger.info("incremental training")
        incremental = incremental_training(work)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "results": results, "incremental_training": incremental,
        "benchmark_seconds": round(time.perf_counter() - started),
    }
    (OUT / "bench.json").write_text(json.dumps(report, indent=2))
    chart(results, OUT / "bench.png")
    print(f"\nBenchmark {report['date']}, {report['machine']} ({report['benchmark_seconds']} s)\n")
    print(table(results))
    print(f"\nstories changed: retrained {incremental['stories_changed']['retrained']} "
          f"in {incremental['stories_changed']['seconds']} s")
    print(f"facts changed: retrained {incremental['facts_changed']['retrained'] or 'nothing'} "
          f"({incremental['facts_changed']['seconds']} s for `rasa train` to find that out)")
    print(f"\nwritten: {OUT / 'bench.json'}, {OUT / 'bench.png'}")


if __name__ == "__main__":
    main()
