"""Benchmark: this assistant against the same data on Rasa's default configuration, in one run.

For each system: train from scratch (fresh training cache), start the real servers (scripts/serve.py:
Rasa + action server, SQLite tracker store as shipped), time to the first REST reply, resident
memory after warm-up, latency and throughput of multi-turn conversations over the REST channel at 1
and at 8 concurrent clients, and held-out intent accuracy. Also checks what a change of stories or
of facts costs in training. Prints one table, writes it as JSON and a PNG chart.

Every setup is served at once, and each load is played in rounds with the setups taking turns
(ROUNDS): the machine's speed moves within minutes, so each setup's figures pool the same stretches
of time, and the ratios compare setups measured side by side.

This assistant is served twice from the same model: as `make run` ships (one worker process) and
with one worker per core (LOCK_STORE=redis, RASA_WORKERS=auto; skipped when Redis does not answer).
Both run with the default rate limits on, the benchmark as the trusted proxy (TRUSTED_PROXIES): each
conversation comes from its own address in X-Forwarded-For, as a new visitor would. On both, the
abusive-client scenario: 8 people, each typing (1-3 s between their messages, a new address per
conversation), first alone, then next to one client that sends as fast as it can from one address;
the people's latency and errors with and without it, and what the abusive client got (429s).

    make bench            # or: .venv/bin/python bench/run.py [--requests-1 N] [--requests-8 N] [--people N]
    .venv/bin/python bench/run.py --quick   # a check of this script in about 2 minutes: the trained
                          # model (models/current.tar.gz), few requests, no stock Rasa, no accuracy,
                          # no training; written to bench-quick.json, figures not for comparison
"""
import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import json
import logging
import multiprocessing
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.facts import parse as parse_facts  # noqa: E402
from channels.limits import DEFAULTS as RATE_LIMITS  # noqa: E402
from rasa_addons.server import cores, redis_answers  # noqa: E402
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
# The setups served: this assistant with one worker (as `make run` ships), with one worker per core
# (Redis lock store), and stock Rasa.
SETUPS = ("umb", "umb_workers", "stock")
# Clients' addresses, given in X-Forwarded-For (the benchmark is the trusted proxy): one per
# conversation from the benchmarking range (RFC 2544), the abusive client's from TEST-NET-3.
VISITORS = ipaddress.ip_network("198.18.0.0/15")
ABUSER = "203.0.113.66"
# Seconds a person takes between two messages (reading the answer, typing the next): faster than
# people type, to keep the run short, and still a new address (a new visitor) per conversation
THINK_SECONDS = (1.0, 3.0)
# Every setup is served at once and the loads are played in rounds, the setups taking turns in each:
# the machine's speed moves twice over within minutes, and this way each setup's figures pool the same
# stretches of time (the abusive-client scenario: one round per conversation of each person)
ROUNDS = 5


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


_addresses: Iterator[Any] = itertools.islice(VISITORS.hosts(), 1, None)


def new_address() -> str:
    """A visitor address not used before in this run: its rate-limit bucket is full."""
    return str(next(_addresses))


def summary(latencies: List[float], wall: float) -> Dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies) or [0.0]
    pick = lambda q: round(ms[min(len(ms) - 1, int(q * len(ms)))], 1)  # noqa: E731
    return {"requests": len(latencies), "rps": round(len(latencies) / wall, 1) if wall else 0.0, "p50_ms": pick(0.50),
            "p95_ms": pick(0.95), "p99_ms": pick(0.99), "mean_ms": round(statistics.mean(ms), 1)}


@dataclass
class Played:
    """What a load got, added up over the rounds: every latency, the wall time, the failures."""
    latencies: List[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    empty: int = 0

    def add(self, other: "Played") -> "Played":
        self.latencies += other.latencies
        self.wall += other.wall
        self.errors += other.errors
        self.empty += other.empty
        return self

    def summary(self) -> Dict[str, Any]:
        return {**summary(self.latencies, self.wall), "errors": self.errors, "empty_replies": self.empty}


def in_rounds(items: List[Any], rounds: int) -> List[List[Any]]:
    """`items` cut in `rounds` consecutive parts (sizes differing by one at most), none empty."""
    rounds = max(1, min(rounds, len(items)))
    size, extra = divmod(len(items), rounds)
    bounds = list(itertools.accumulate([0] + [size + (i < extra) for i in range(rounds)]))
    return [items[a:b] for a, b in zip(bounds, bounds[1:])]


def taking_turns(setups: List[Any], round_number: int) -> List[Any]:
    """The setups' order in a round: each goes first in turn."""
    k = round_number % len(setups)
    return setups[k:] + setups[:k]


async def load(url: str, convs: List[List[str]], clients: int, tag: str,
               think: Optional[Tuple[float, float]] = None, seed: int = 11) -> Played:
    """Play the conversations with `clients` concurrent clients; each conversation has its own sender
    and address (X-Forwarded-For); with `think`, a pause of that many seconds (uniform) before each
    message, as a person typing. An error is any answer but 200 (a 429 too)."""
    queue: asyncio.Queue = asyncio.Queue()
    for i, turns in enumerate(convs):
        queue.put_nowait((f"bench-{tag}-{i}", new_address(), turns))
    played = Played()
    rng = random.Random(seed)

    timeout = aiohttp.ClientTimeout(total=60)

    async def client() -> None:
        while not queue.empty():
            sender, address, turns = queue.get_nowait()
            # a new visitor, a new connection (kept alive through the conversation): with several
            # workers, the kernel gives it to whichever worker is free to accept it
            async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=1)) as session:
                for text in turns:
                    if think:  # before each message, the first too: visitors do not arrive in step
                        await asyncio.sleep(rng.uniform(*think))
                    start = time.perf_counter()
                    try:
                        async with session.post(url, json={"sender": sender, "message": text},
                                                headers={"X-Forwarded-For": address}) as r:
                            body = await r.json()
                            ok = r.status == 200
                    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                        ok, body = False, None
                    played.latencies.append(time.perf_counter() - start)
                    played.errors += not ok
                    played.empty += ok and not body

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    played.wall = time.perf_counter() - start
    return played


async def abuse(url: str, stop: Any) -> Dict[str, Any]:
    """One client sending as fast as it can, one request after the other on one kept-alive
    connection, from one address, until `stop` is set; what it got."""
    statuses: Dict[str, int] = {}
    timeout = aiohttp.ClientTimeout(total=60)
    start = time.perf_counter()
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=1)) as session:
        while not stop.is_set():
            try:
                async with session.post(url, json={"sender": "bench-abuser", "message": "what is your phone number?"},
                                        headers={"X-Forwarded-For": ABUSER}) as r:
                    await r.read()
                    status = str(r.status)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = "failed"
            statuses[status] = statuses.get(status, 0) + 1
    return {"statuses": statuses, "seconds": time.perf_counter() - start}


def abuser_process(url: str, stop: Any, results: Any) -> None:
    """The abusive client in a process of its own: in the people's event loop it would slow their
    client down, not the server."""
    results.send(asyncio.run(abuse(url, stop)))


def beside_the_abuser(url: str, convs: List[List[str]], people: int, tag: str) -> Tuple[Played, Dict[str, Any]]:
    """The people's conversations with the abusive client sending all the while: what each got."""
    context = multiprocessing.get_context("fork")  # forked here, outside any running event loop
    stop, (receive, send) = context.Event(), context.Pipe(duplex=False)
    process = context.Process(target=abuser_process, args=(url, stop, send), daemon=True)
    process.start()
    try:
        played = asyncio.run(load(url, convs, people, tag, THINK_SECONDS))
    finally:
        stop.set()
    abuser = receive.recv() if receive.poll(90) else {"statuses": {}, "seconds": 0.0}
    process.join(10)
    return played, abuser


def abuser_summary(parts: List[Dict[str, Any]]) -> Dict[str, Any]:
    statuses: Dict[str, int] = {}
    for part in parts:
        for status, n in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    requests, seconds = sum(statuses.values()), sum(part["seconds"] for part in parts)
    return {"requests": requests, "rps": round(requests / seconds, 1) if seconds else 0.0, "statuses": statuses,
            "refused_429": statuses.get("429", 0), "answered_200": statuses.get("200", 0),
            "other": sum(n for k, n in statuses.items() if k not in ("200", "429"))}


def abusive_scenario(servers: List["Server"], people: int, conversations_each: int) -> None:
    """`people` typing, alone and then next to the abusive client (the same conversations' texts,
    new senders and addresses): their p95 with and without it, their errors, the abuser's 429s. In
    rounds of one conversation each, alone and beside it in turn, the setups taking turns."""
    alone = {s.setup: Played() for s in servers}
    beside = {s.setup: Played() for s in servers}
    abuser: Dict[str, List[Dict[str, Any]]] = {s.setup: [] for s in servers}
    convs = conversations(people * conversations_each, seed=5)
    for number, part in enumerate(in_rounds(convs, conversations_each)):
        for server in taking_turns(servers, number):
            logger.info("%s: %d people alone, then beside the abusive client (round %d)", server.setup, people, number + 1)
            alone[server.setup].add(asyncio.run(load(server.url, part, people, f"{server.setup}-alone-{number}", THINK_SECONDS)))
            played, got = beside_the_abuser(server.url, part, people, f"{server.setup}-abused-{number}")
            beside[server.setup].add(played)
            abuser[server.setup].append(got)
    for server in servers:
        a, b = alone[server.setup].summary(), beside[server.setup].summary()
        server.result["abuse"] = {"people": people, "alone": a, "with_abuser": b, "abuser": abuser_summary(abuser[server.setup]),
                                  "p95_ratio": round(b["p95_ms"] / a["p95_ms"], 2) if a["p95_ms"] else None}


def tree(pid: int) -> List[int]:
    """A process and all its descendants."""
    children: Dict[int, List[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total = 0
    for p in tree(pid):
        try:
            total += int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{p}/status").read_text()).group(1))
        except (OSError, AttributeError):
            pass
    return round(total / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def worker_pids(log: Path) -> List[int]:
    """The Rasa server's worker processes, from its log (rasa_addons.server.serve_workers)."""
    found = re.findall(r"Serving with \d+ worker processes \(pids ([\d ]+)\)", log.read_text(errors="replace"))
    return [int(pid) for pid in found[-1].split()] if found else []


def server_command(system: str, model: Path, port: int, action_port: int) -> List[str]:
    """This assistant through its run command; the reference as plain `rasa run` + `rasa run actions`."""
    if system.startswith("umb"):
        return [sys.executable, str(ROOT / "scripts" / "serve.py")]
    return ["bash", "-c", (
        f"{RASA} run actions --actions actions --port {action_port} & "
        f"exec {RASA} run --model {model} --port {port} --interface 127.0.0.1 "
        f"--endpoints bench/stock_endpoints.yml --credentials bench/stock_credentials.yml"
    )]


def setup_env(system: str, redis_prefix: str) -> Dict[str, str]:
    """This assistant's settings: the default rate limits, the benchmark as trusted proxy, no staff
    console; one worker, or one per core on the Redis lock store (`umb_workers`)."""
    if not system.startswith("umb"):
        return {}
    workers = system == "umb_workers"
    return {
        **{name: RATE_LIMITS[name] for name in ("RATE_LIMIT_MESSAGES", "RATE_LIMIT_BURST", "RATE_LIMIT_CONNECTIONS",
                                                 "RATE_LIMIT_WINDOW", "RATE_LIMIT_STORE")},
        "TRUSTED_PROXIES": "127.0.0.1", "STAFF_PORT": "0", "RASA_ENDPOINTS": "endpoints.yml",
        "LOCK_STORE": "redis" if workers else "memory", "RASA_WORKERS": "auto" if workers else "1",
        "REDIS_KEY_PREFIX": redis_prefix,
    }


def workers_up(log: Path, count: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Wait until `count` workers have loaded the model (the first reply may come from the first)."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("Rasa server up: model loaded") < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers not up: see {log}")
        time.sleep(0.5)


@dataclass
class Server:
    """A setup being served: its process, REST address, log, and what was measured of it."""
    setup: str
    proc: subprocess.Popen
    url: str
    log: Path
    result: Dict[str, Any]


def start(setup: str, model: Path, work: Path, redis_prefix: str) -> Server:
    """Serve a setup and warm it up: time to the first reply, memory after the warm-up."""
    port, action_port = free_port(), free_port()
    env = {
        **os.environ, "RASA_MODEL": str(model), "RASA_PORT": str(port), "ACTION_PORT": str(action_port),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
        "TRACKER_DB": str(work / f"tracker-{setup}.db"), "TF_CPP_MIN_LOG_LEVEL": "2",
        **setup_env(setup, redis_prefix),
    }
    log_path = work / f"serve-{setup}.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(server_command(setup, model, port, action_port), cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(setup, proc, f"http://127.0.0.1:{port}/webhooks/rest/webhook", log_path, {})
    try:
        ready = asyncio.run(first_reply(server.url, proc))
        ready_seconds = time.perf_counter() - started
        workers = cores() if setup == "umb_workers" else 1
        if workers > 1:
            workers_up(log_path, workers, proc)
        asyncio.run(load(server.url, conversations(20, seed=1), 2, f"{setup}-warmup"))
    except BaseException:
        stop(server)
        raise
    server.result.update({"workers": workers, "ready_s": round(ready_seconds, 1), "first_reply": ready,
                          "memory_mb": rss_mb(proc.pid)})
    return server


def stop(server: Server) -> None:
    os.killpg(server.proc.pid, signal.SIGTERM)
    server.proc.wait(timeout=60)


def in_turns(servers: List[Server], name: str, clients: int, requests: int, seed: int, rounds: int) -> None:
    """`clients` concurrent clients playing the conversations in rounds, the setups taking turns in
    each; the figures pooled per setup (`result[name]`), with where the machine's CPU went: the
    servers (Rasa, its workers, the action server), each worker, and the benchmark's own clients,
    which run on the same cores."""
    played = {s.setup: Played() for s in servers}
    cpu: Dict[str, Dict[str, Any]] = {s.setup: {"servers": 0.0, "bench": 0.0, "workers": {}} for s in servers}
    for number, part in enumerate(in_rounds(conversations(requests // 3, seed=seed), rounds)):
        for server in taking_turns(servers, number):
            pids, processes, used = worker_pids(server.log), tree(server.proc.pid), cpu[server.setup]
            workers, servers_before = [cpu_seconds(pid) for pid in pids], sum(map(cpu_seconds, processes))
            bench_before = time.process_time()
            played[server.setup].add(asyncio.run(load(server.url, part, clients, f"{server.setup}-{name}-{number}")))
            used["servers"] += sum(map(cpu_seconds, processes)) - servers_before
            used["bench"] += time.process_time() - bench_before
            for pid, before in zip(pids, workers):
                used["workers"][pid] = used["workers"].get(pid, 0.0) + cpu_seconds(pid) - before
    for server in servers:
        used, result = cpu[server.setup], played[server.setup].summary()
        result.update({"servers_cpu_s": round(used["servers"], 1), "bench_cpu_s": round(used["bench"], 1),
                       "wall_s": round(played[server.setup].wall, 1)})
        if used["workers"]:  # how the clients' work was shared between the workers
            result["worker_cpu_s"] = [round(seconds, 1) for seconds in used["workers"].values()]
        server.result[name] = result


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
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # totals only: no debug line per question (the sets are held out)
    agent = Agent.load(str(model))
    scored = {name: asyncio.run(score(agent, questions(path))) for name, path in (("heldout", HELDOUT), ("fresh", FRESH))}
    right, total = sum(s.right for s in scored.values()), sum(s.total for s in scored.values())
    return {**{name: round(s.accuracy, 3) for name, s in scored.items()}, "both": round(right / total, 3)}


# (name, getter, served): rows of a served setup differ between this assistant's two setups; the
# others (training, accuracy) are of the one model both serve.
ROWS = [
    ("train from scratch (s)", lambda r: r["train_s"], False),
    ("time to ready (s)", lambda r: r["ready_s"], True),
    ("memory after warm-up (MB)", lambda r: r["memory_mb"], True),
    ("1 client p50 (ms)", lambda r: r["c1"]["p50_ms"], True),
    ("1 client p95 (ms)", lambda r: r["c1"]["p95_ms"], True),
    ("1 client req/s", lambda r: r["c1"]["rps"], True),
    ("8 clients p50 (ms)", lambda r: r["c8"]["p50_ms"], True),
    ("8 clients p95 (ms)", lambda r: r["c8"]["p95_ms"], True),
    ("8 clients p99 (ms)", lambda r: r["c8"]["p99_ms"], True),
    ("8 clients req/s", lambda r: r["c8"]["rps"], True),
    ("errors (1 + 8 clients)", lambda r: r["c1"]["errors"] + r["c8"]["errors"], True),
    ("8 clients: CPU s of servers + bench clients in wall s", lambda r: (
        f"{r['c8']['servers_cpu_s']} + {r['c8']['bench_cpu_s']} in {r['c8']['wall_s']}"), True),
    ("8 clients: CPU s of each worker", lambda r: " + ".join(map(str, r["c8"]["worker_cpu_s"])), True),
    ("intent accuracy, held-out (169)", lambda r: r["accuracy"]["heldout"], False),
    ("intent accuracy, fresh held-out (60)", lambda r: r["accuracy"]["fresh"], False),
    ("intent accuracy, both (229)", lambda r: r["accuracy"]["both"], False),
]

ABUSE_ROWS = [
    ("people p50 alone (ms)", lambda a: a["alone"]["p50_ms"]),
    ("people p95 alone (ms)", lambda a: a["alone"]["p95_ms"]),
    ("people p50 beside the abusive client (ms)", lambda a: a["with_abuser"]["p50_ms"]),
    ("people p95 beside the abusive client (ms)", lambda a: a["with_abuser"]["p95_ms"]),
    ("p95 beside / alone (goal <= 2)", lambda a: a["p95_ratio"]),
    ("people requests, errors (any non-200) beside it", lambda a: f"{a['with_abuser']['requests']}, {a['with_abuser']['errors']}"),
    ("people errors alone", lambda a: a["alone"]["errors"]),
    ("abusive client requests (req/s)", lambda a: f"{a['abuser']['requests']} ({a['abuser']['rps']})"),
    ("abusive client 429s", lambda a: a["abuser"]["refused_429"]),
    ("abusive client answered (200)", lambda a: a["abuser"]["answered_200"]),
    ("abusive client other answers / failures", lambda a: a["abuser"]["other"]),
]


def value(results: Dict[str, Dict[str, Any]], setup: str, get: Any, served: bool = True) -> Any:
    """A row's value for a setup; a row of the model (not served) is this assistant's for both setups."""
    if setup == "umb_workers" and not served:
        setup = "umb"
    try:
        return get(results[setup])
    except (KeyError, TypeError):
        return None


def label(results: Dict[str, Dict[str, Any]]) -> str:
    return f"{results.get('umb_workers', {}).get('workers', cores())} workers"


def table(results: Dict[str, Dict[str, Any]]) -> str:
    def ratio(a: Any, b: Any) -> str:
        return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"

    workers = label(results)
    lines = [f"| metric | this assistant, 1 worker | this assistant, {workers} | stock Rasa | ratio 1 worker | ratio {workers} |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, get, served in ROWS:
        ours, many, stock = (value(results, s, get, served) for s in SETUPS)
        show = lambda v: "-" if v is None else v  # noqa: E731
        lines.append(f"| {name} | {show(ours)} | {show(many)} | {show(stock)} | {ratio(ours, stock)} | {ratio(many, stock)} |")
    return "\n".join(lines)


def abuse_table(results: Dict[str, Dict[str, Any]]) -> str:
    setups = [s for s in ("umb", "umb_workers") if "abuse" in results.get(s, {})]
    if not setups:
        return ""
    people = results[setups[0]]["abuse"]["people"]
    names = {"umb": "1 worker", "umb_workers": label(results)}
    lines = [f"| {people} people typing, then one abusive client beside them | " + " | ".join(names[s] for s in setups) + " |",
             "| --- |" + " ---: |" * len(setups)]
    for name, get in ABUSE_ROWS:
        lines.append(f"| {name} | " + " | ".join(str(get(results[s]["abuse"])) for s in setups) + " |")
    return "\n".join(lines)


def chart(results: Dict[str, Dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("8 clients req/s", "higher is better"), ("8 clients p95 (ms)", "lower is better"),
              ("time to ready (s)", "lower is better"), ("memory after warm-up (MB)", "lower is better")]
    getters = {name: (get, served) for name, get, served in ROWS}
    setups = [s for s in SETUPS if s in results]
    names = {"umb": "this assistant\n1 worker", "umb_workers": f"this assistant\n{label(results)}", "stock": "stock Rasa"}
    colours = {"umb": "#1f77b4", "umb_workers": "#2ca02c", "stock": "#999999"}
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 3.8))
    for ax, (name, note) in zip(axes, panels):
        get, served = getters[name]
        values = [value(results, s, get, served) or 0 for s in setups]
        ax.bar([names[s] for s in setups], values, color=[colours[s] for s in setups])
        ax.set_title(f"{name}\n({note})", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-1", type=int, help="requests at 1 client (per setup; 150, --quick 30)")
    parser.add_argument("--requests-8", type=int, help="requests at 8 clients (per setup; 480, --quick 96)")
    parser.add_argument("--people", type=int, default=8, help="people typing in the abusive-client scenario")
    parser.add_argument("--people-conversations", type=int,
                        help="conversations each person has, alone and beside the abusive client (6, --quick 2)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"rounds each load is played in, the setups taking turns ({ROUNDS})")
    parser.add_argument("--quick", action="store_true",
                        help="check this script in about 2 minutes: the trained model, few requests, no stock Rasa, "
                             "no training, no accuracy (figures not for comparison)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "current.tar.gz",
                        help="with --quick: the model to serve (make train's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, full, quick in (("requests_1", 150, 30), ("requests_8", 480, 96), ("people_conversations", 6, 2)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        if not args.model.exists():
            parser.error(f"--quick serves a trained model: {args.model} does not exist (make train)")
    started = time.perf_counter()
    results: Dict[str, Dict[str, Any]] = {}
    redis_prefix = f"umbbench{os.getpid()}"
    setups = [s for s in SETUPS if not (args.quick and s == "stock")]
    if not redis_answers({}):
        logger.warning("Redis does not answer on 127.0.0.1:6379: the %d-worker setup is skipped", cores())
        setups.remove("umb_workers")
    incremental: Optional[Dict[str, Any]] = None
    with tempfile.TemporaryDirectory(prefix="umb-bench-") as tmp:
        work = Path(tmp)
        models: Dict[str, Path] = {}
        # every model first, then the setups served one right after the other, then the accuracy: the
        # machine's speed moves within half an hour (stock Rasa trains for 10-15 minutes), and the
        # ratios compare what was measured minutes apart
        systems = {setup: "stock" if setup == "stock" else "umb" for setup in setups}
        for system in dict.fromkeys(systems.values()):
            if args.quick:
                models[system] = args.model
            else:
                logger.info("%s: training", system)
                models[system], seconds = train(system, work)
                results.setdefault(system, {})["train_s"] = round(seconds, 1)
        with contextlib.ExitStack() as serving:
            servers = []
            for setup in setups:
                logger.info("%s: starting", setup)
                servers.append(start(setup, models[systems[setup]], work, redis_prefix))
                serving.callback(stop, servers[-1])
            for name, clients, requests, seed in (("c1", 1, args.requests_1, 2), ("c8", 8, args.requests_8, 3)):
                logger.info("%d client(s), %d rounds", clients, args.rounds)
                in_turns(servers, name, clients, requests, seed, args.rounds)
            abusive_scenario([s for s in servers if s.setup.startswith("umb")], args.people, args.people_conversations)
        for server in servers:
            results.setdefault(server.setup, {}).update(server.result)
        if not args.quick:
            for setup in [s for s in setups if s != "umb_workers"]:  # the same model as "umb"
                logger.info("%s: held-out accuracy", setup)
                results[setup]["accuracy"] = accuracy(models[systems[setup]])
            logger.info("incremental training")
            incremental = incremental_training(work)
    forget_redis_keys(redis_prefix)
    report = {
        "date": time.strftime("%Y-%m-%d"), "quick": args.quick,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "results": results, "incremental_training": incremental,
        "benchmark_seconds": round(time.perf_counter() - started),
    }
    name = "bench-quick" if args.quick else "bench"
    (OUT / f"{name}.json").write_text(json.dumps(report, indent=2))
    chart(results, OUT / f"{name}.png")
    print(f"\nBenchmark {report['date']}, {report['machine']} ({report['benchmark_seconds']} s)"
          f"{' --quick: a check of the script, not a measurement' if args.quick else ''}\n")
    print(table(results))
    print()
    print(abuse_table(results))
    if incremental:
        print(f"\nstories changed: retrained {incremental['stories_changed']['retrained']} "
              f"in {incremental['stories_changed']['seconds']} s")
        print(f"facts changed: retrained {incremental['facts_changed']['retrained'] or 'nothing'} "
              f"({incremental['facts_changed']['seconds']} s for `rasa train` to find that out)")
    print(f"\nwritten: {OUT / (name + '.json')}, {OUT / (name + '.png')}")


def forget_redis_keys(prefix: str) -> None:
    """The benchmark's locks and rate-limit counters, out of Redis."""
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2, socket_connect_timeout=2)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    except Exception as e:
        logger.warning("Redis keys %s* not deleted (%s)", prefix, e)


if __name__ == "__main__":
    main()
