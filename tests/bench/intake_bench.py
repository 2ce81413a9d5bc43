"""Load benchmark of POST /api/v1/inquiries against the framework's ceiling (not a timed test).

Starts each server as one process (like `inquiry serve`), drives it with wrk at a fixed
concurrency for a fixed time after a warm-up, and prints requests/s, p50/p99 latency,
errors, the server's CPU time per request and the ratio to a bare FastAPI app that only
validates the same body.

    .venv/bin/python tests/bench/intake_bench.py [--seconds 10] [--connections 32]
        [--only bare,sqlite,postgres,ratelimit] [--no-pin] [--worker-in-process] [--profile DIR]
        [--observability] [--pairs N] [--pairs-of observability|duplicates]
        [--no-duplicate-check] [--unique-visitors]

The web process is measured as deploy/compose.yaml runs it: it writes the outbox and a
separate `inquiry worker` sends the mail. --worker-in-process measures the single-process
layout instead, where the same core also renders and delivers two emails per inquiry.

--observability runs the service with metrics (INQUIRY_METRICS_PORT, scraped every
SCRAPE_SECONDS during the run, as Prometheus would) and JSON logs. --pairs N measures their
cost: N pairs of runs of each scenario, one without and one with them, the order alternating
from pair to pair, and prints each pair's ratio with the median and the spread.

Exits non-zero only if something crashes, never because a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
BARE_APP = Path(__file__).resolve().parent / "bare_app.py"
ROUTE = "/api/v1/inquiries"
PG_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-tA"]
P99_TARGET_MS = 50.0
WARMUP_SECONDS = 2
SCRAPE_SECONDS = 5.0
MESSAGE = (
    "Hello, my family doctor suggested I ask about ketamine therapy for depression that has "
    "not improved after two medications. Could you tell me how the first assessment works, "
    "how long the wait is at the moment, and whether any of it is covered by OHIP or by my "
    "work insurance? I am usually free on weekday afternoons. Thank you for your help."
)


@dataclass(frozen=True)
class Scenario:
    name: str
    database: str | None  # None: the bare ceiling app
    target: float | None  # minimum ratio to the ceiling
    expected: frozenset[int] = frozenset({201})
    env: dict[str, str] = field(default_factory=dict)


SCENARIOS = (
    Scenario("bare", None, None),
    Scenario("sqlite", "sqlite", 0.5),
    Scenario("postgres", "postgres", 0.4),
    # Every client is one IP here: after the first inquiry, everything is refused with 429.
    Scenario(
        "ratelimit",
        "sqlite",
        0.8,
        frozenset({201, 429}),
        {"INQUIRY_RATE_LIMIT_ENABLED": "true", "INQUIRY_RATE_LIMIT_PER_IP": "1/hour"},
    ),
)


@dataclass(frozen=True)
class Load:
    """What one wrk run saw."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    statuses: dict[int, int]

    def count(self, statuses: frozenset[int]) -> int:
        return sum(n for status, n in self.statuses.items() if status in statuses)

    def errors(self, expected: frozenset[int]) -> int:
        return self.socket_errors + self.requests - self.count(expected)


_LUA = """
local bodies = {%(bodies)s}
local requests = {}
local next_request = 0
counts = {}
local unique = %(unique)s
local serial = 0
local run = 0
function init(args)
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format("POST", "%(route)s", {["Content-Type"] = "application/json"}, body)
  end
  -- Distinct per thread (tid) and per invocation (the warm-up and the run share a database).
  run = (tid or 0) * 1000 + os.time() %% 1000
end
function request()
  next_request = next_request %% #requests + 1
  if not unique then return requests[next_request] end
  -- A new visitor every time: an address and a number nobody used before.
  serial = serial + 1
  local body = bodies[next_request]
    :gsub("@EMAIL@", "v" .. run .. "-" .. serial .. "@example.com")
    :gsub("@PHONE@", string.format("+1416%%07d", 2000000 + (run * 7919 + serial) %% 1000000))
  return wrk.format("POST", "%(route)s", {["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
end
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function done(summary, latency, _)
  local merged = {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("counts")) do merged[key] = (merged[key] or 0) + n end
  end
  local parts = {}
  for key, n in pairs(merged) do parts[#parts + 1] = string.format('"%%s":%%d', key, n) end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,' ..
    '"socket_errors":%%d,"statuses":{%%s}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
"""


def write_lua(directory: Path, variants: int = 64, *, unique: bool = False) -> Path:
    """A wrk script cycling through pre-formatted requests that differ by visitor (64
    visitors writing again and again, or, `unique`, a new visitor every request)."""
    bodies = []
    for i in range(variants):
        body = {
            "name": f"Ann Example {i}",
            "email": "@EMAIL@" if unique else f"ann.example{i}@example.com",
            "phone": "@PHONE@" if unique else f"416-555-01{i:02d}",
            "preferred_contact": "email",
            "callback_window": "any",
            "voicemail_ok": False,
            "topic": "new_patient",
            "subject": "Question about treatment",
            "message": MESSAGE,
            "language": "en",
            "consent": True,
        }
        bodies.append(f"[==[{json.dumps(body)}]==]")
    path = directory / "intake.lua"
    text = _LUA % {
        "bodies": ",\n".join(bodies),
        "route": ROUTE,
        "unique": "true" if unique else "false",
    }
    path.write_text(text)
    return path


def pinned(cpu: str | None, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command] if cpu else command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def server(command: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[int]:
    """Run a server until the block ends; yield its pid once it accepts connections."""
    log_path = cwd / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited:\n{log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start:\n{log_path.read_text()[-3000:]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield process.pid
        finally:
            process.terminate()  # uvicorn shuts down gracefully; the writer drains its queue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            lines = log_path.read_text(errors="replace").splitlines()
            first = next((i for i, line in enumerate(lines) if " ERROR " in line), None)
            if first is not None:
                errors = sum(" ERROR " in line for line in lines)
                print(f"  server log has {errors} ERROR lines; the first:")
                print("\n".join("    " + line for line in lines[first : first + 25]))


def drive(url: str, lua: Path, seconds: int, connections: int, cpu: str | None) -> Load:
    """One wrk run; latencies are wrk's own (from request written to response read)."""
    threads = 1 if cpu else 2
    command = pinned(
        cpu,
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(lua),
            url,
        ],
    )
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    data = json.loads(line.removeprefix("BENCH "))
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        socket_errors=data["socket_errors"],
        statuses={int(status): n for status, n in data["statuses"].items()},
    )


def stored_rows(scenario: Scenario, url: str, pg_database: str) -> int:
    if scenario.database == "postgres":
        query = "SELECT count(*) FROM inquiry"
        out = subprocess.run(
            [*PG_ADMIN, "-d", pg_database, "-c", query], capture_output=True, text=True, check=True
        ).stdout
        return int(out.strip())
    with sqlite3.connect(url.split(":///", 1)[1]) as db:
        rows: int = db.execute("SELECT count(*) FROM inquiry").fetchone()[0]
        return rows


@dataclass
class Result:
    scenario: Scenario
    load: Load
    acknowledged: int = 0  # 201s over warm-up and run
    rows: int | None = None
    observed: bool = False  # metrics and JSON logs were on
    counted: float | None = None  # inquiries the metrics counted, at the last scrape
    cpu_us: float = 0.0  # the server's CPU time (all its threads) per request of the run


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, all threads) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Scraper:
    """Scrapes /metrics every SCRAPE_SECONDS until stopped; keeps the last scrape."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.last = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.scrape()

    def scrape(self) -> None:
        with urllib.request.urlopen(self.url, timeout=10) as response:
            self.last = response.read().decode()

    def _run(self) -> None:
        while not self._stop.wait(SCRAPE_SECONDS):
            self.scrape()

    def accepted(self) -> float:
        pattern = re.compile(r"^inquiry_inquiries_accepted_total\{[^}]*\} (\S+)$", re.M)
        return sum(float(value) for value in pattern.findall(self.last))


def run_scenario(
    scenario: Scenario, args: argparse.Namespace, work: Path, lua: Path, pg_database: str
) -> Result:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INQUIRY_")}
    cwd = Path(tempfile.mkdtemp(prefix=f"{scenario.name}-", dir=work))
    database_url = ""
    metrics_port: int | None = None  # the bare ceiling has no metrics
    if scenario.database is None:
        command = [sys.executable, str(BARE_APP), "--port", str(port)]
    else:
        if scenario.database == "postgres":
            database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_database}"
        else:
            database_url = f"sqlite+aiosqlite:///{cwd / 'bench.db'}"
        env |= {
            "INQUIRY_DATABASE_URL": database_url,
            "INQUIRY_RATE_LIMIT_ENABLED": "false",
            "INQUIRY_MAIL_DIR": str(cwd / "mail"),
            **scenario.env,
        }
        if not args.worker:
            env["INQUIRY_WORKER_IN_PROCESS"] = "false"
        if not args.duplicates:
            env["INQUIRY_DUPLICATE_WINDOW_DAYS"] = "0"  # no duplicate check
        metrics_port = free_port() if args.observability else None
        if metrics_port:
            env |= {"INQUIRY_METRICS_PORT": str(metrics_port), "INQUIRY_LOG_FORMAT": "json"}
        if scenario.database == "postgres":
            subprocess.run(
                [*PG_ADMIN, "-c", f"CREATE DATABASE {pg_database}"], check=True, capture_output=True
            )
            subprocess.run(
                [str(BIN / "inquiry"), "migrate"], env=env, cwd=cwd, check=True, capture_output=True
            )
        command = [str(BIN / "inquiry"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}{ROUTE}"
    server_cpu, load_cpu = ("0", "1") if args.pin else (None, None)
    with server(pinned(server_cpu, command), env, cwd, port) as pid:
        warmup = drive(url, lua, WARMUP_SECONDS, args.connections, load_cpu)
        profiler = None
        if args.profile:
            out = Path(args.profile) / f"{scenario.name}.txt"
            profiler = subprocess.Popen(
                pinned(
                    load_cpu,
                    [
                        str(BIN / "py-spy"),
                        "record",
                        "--pid",
                        str(pid),
                        "--nonblocking",
                        "--duration",
                        str(max(1, args.seconds - 1)),
                        "--format",
                        "raw",
                        "-o",
                        str(out),
                    ],
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        with Scraper(metrics_port) if metrics_port else contextlib.nullcontext() as scraper:
            cpu_before = cpu_seconds(pid)
            load = drive(url, lua, args.seconds, args.connections, load_cpu)
            cpu_used = cpu_seconds(pid) - cpu_before
        if profiler:
            profiler.wait()
    result = Result(scenario, load, observed=metrics_port is not None)
    result.cpu_us = cpu_used / max(1, load.requests) * 1e6
    if scraper is not None:
        result.counted = scraper.accepted()
    if scenario.database:
        result.acknowledged = warmup.count(frozenset({201})) + load.count(frozenset({201}))
        result.rows = stored_rows(scenario, database_url, pg_database)
        if scenario.database == "postgres":
            drop = f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)"
            subprocess.run([*PG_ADMIN, "-c", drop], capture_output=True, check=True)
    return result


def verdict(result: Result, ceiling: float | None) -> tuple[str, str]:
    """(ratio column, pass/fail column) for one result."""
    scenario, load = result.scenario, result.load
    if scenario.target is None:
        return "1.00", "ceiling"
    ratio = load.requests / load.seconds / ceiling if ceiling else None
    misses = [] if ratio is not None else ["no ceiling run"]
    if ratio is not None and ratio < scenario.target:
        misses.append(f"ratio<{scenario.target}")
    if load.p99_ms > P99_TARGET_MS:
        misses.append(f"p99>{P99_TARGET_MS:g}ms")
    if load.errors(scenario.expected):
        misses.append("errors")
    if result.rows is not None and result.rows < result.acknowledged:
        misses.append("LOST")
    column = "n/a" if ratio is None else f"{ratio:.2f}"
    return column, ("FAIL " + ",".join(misses)) if misses else "pass"


def report(results: list[Result], args: argparse.Namespace) -> None:
    bare = next((r for r in results if r.scenario.database is None), None)
    ceiling = bare.load.requests / bare.load.seconds if bare else None
    head = f"{'scenario':<10} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
    print(head + f"{'ratio':>6} {'cpu µs':>7} {'rows/201s':>12}  verdict")
    for result in results:
        load = result.load
        ratio, outcome = verdict(result, ceiling)
        stored = "-" if result.rows is None else f"{result.rows}/{result.acknowledged}"
        print(
            f"{result.scenario.name:<10} {load.requests / load.seconds:>8.0f} "
            f"{load.p50_ms:>7.1f} {load.p99_ms:>7.1f} {load.errors(result.scenario.expected):>6} "
            f"{ratio:>6} {result.cpu_us:>7.0f} {stored:>12}  {outcome}"
        )
    print(f"statuses: { {r.scenario.name: r.load.statuses for r in results} }")
    print("cpu µs: the server process's CPU time (every thread) per request of the run")
    print(
        "rows/201s: inquiry rows stored vs 201s received over warm-up + run; rows may exceed "
        f"201s by up to 2x{args.connections} (requests in flight when wrk stops), never trail."
    )
    for result in results:
        if result.counted is not None:
            print(
                f"{result.scenario.name}: metrics counted {result.counted:.0f} inquiries "
                f"accepted, for {result.acknowledged} 201s received"
            )


def _rate(result: Result) -> float:
    return result.load.requests / result.load.seconds


def report_pairs(pairs: dict[str, list[tuple[Result, Result]]], what: str) -> None:
    """Each pair's throughput without and with `what`, and the spread."""
    for name, runs in pairs.items():
        print(f"\n{name}: without / with {what}")
        head = f"{'pair':>4} {'off req/s':>10} {'on req/s':>10} {'on/off':>7}"
        print(head + f" {'off p99':>8} {'on p99':>8}")
        ratios = []
        for number, (off, on) in enumerate(runs, 1):
            ratio = _rate(on) / _rate(off)
            ratios.append(ratio)
            print(
                f"{number:>4} {_rate(off):>10.0f} {_rate(on):>10.0f} {ratio:>7.3f} "
                f"{off.load.p99_ms:>8.1f} {on.load.p99_ms:>8.1f}"
            )
        offs = [_rate(off) for off, _ in runs]
        ons = [_rate(on) for _, on in runs]
        print(
            f"on/off: median {statistics.median(ratios):.3f}, "
            f"min {min(ratios):.3f}, max {max(ratios):.3f}"
        )
        for label, rates in (("off", offs), ("on", ons)):
            middle = statistics.median(rates)
            print(
                f"{label} runs alone: median {middle:.0f} req/s, range "
                f"{min(rates):.0f}-{max(rates):.0f} ({(max(rates) - min(rates)) / middle:.1%} "
                f"of the median)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let the OS place server and load generator (default: cpu 0 / 1)",
    )
    parser.add_argument(
        "--worker-in-process",
        dest="worker",
        action="store_true",
        help="deliver the mail inside the measured server too (`inquiry serve` on a laptop); "
        "by default mail is left to a separate `inquiry worker`, as deploy/compose.yaml runs it",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy each server under load into DIR/<scenario>.txt (collapsed)",
    )
    parser.add_argument(
        "--observability",
        action="store_true",
        help="serve metrics (scraped during the run) and write JSON logs",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=0,
        metavar="N",
        help="N pairs of runs without and with --pairs-of, in alternating order",
    )
    parser.add_argument(
        "--pairs-of",
        choices=("observability", "duplicates"),
        default="observability",
        help="what --pairs turns off and on: metrics and JSON logs, or the duplicate check",
    )
    parser.add_argument(
        "--no-duplicate-check",
        dest="duplicates",
        action="store_false",
        help="run the service with INQUIRY_DUPLICATE_WINDOW_DAYS=0",
    )
    parser.add_argument(
        "--unique-visitors",
        action="store_true",
        help="a new visitor (email and phone) every request, instead of 64 writing again",
    )
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if s.name in args.only.split(",")]
    if args.pairs:
        chosen = [s for s in chosen if s.database is not None]  # the ceiling has neither
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    args.pin = args.pin and (os.cpu_count() or 1) >= 2
    version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    print(
        f"generator: {version.split(' Copyright')[0]}, {args.connections} connections, "
        f"{WARMUP_SECONDS}s warm-up + {args.seconds}s run per scenario, mail delivered "
        + (
            "inside the measured server (single-process layout)"
            if args.worker
            else "by a separate worker (not run here), as in deploy/compose.yaml"
        )
    )
    print(
        "pinning: "
        + (
            "server on cpu 0, wrk (1 thread) on cpu 1, PostgreSQL unpinned"
            if args.pin
            else "none (wrk 2 threads)"
        )
    )
    pg_database = f"inquiry_bench_{os.getpid()}"
    results: list[Result] = []
    pairs: dict[str, list[tuple[Result, Result]]] = {s.name: [] for s in chosen}
    with tempfile.TemporaryDirectory(prefix="inquiry-bench-") as tmp:
        work = Path(tmp)
        lua = write_lua(work, unique=args.unique_visitors)
        try:
            for number in range(args.pairs):
                for scenario in chosen:
                    # Alternating which goes first cancels a drift of the machine over time.
                    runs: dict[bool, Result] = {}
                    for observed in (False, True) if number % 2 == 0 else (True, False):
                        setattr(args, args.pairs_of, observed)
                        runs[observed] = run_scenario(scenario, args, work, lua, pg_database)
                    pairs[scenario.name].append((runs[False], runs[True]))
                    print(f"  {scenario.name}: pair {number + 1} done", flush=True)
            for scenario in chosen if not args.pairs else ():
                results.append(run_scenario(scenario, args, work, lua, pg_database))
                print(f"  {scenario.name}: done", flush=True)
        finally:
            if any(s.database == "postgres" for s in chosen):
                drop = f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)"
                subprocess.run([*PG_ADMIN, "-c", drop], capture_output=True)
    if args.pairs:
        what = {
            "observability": "metrics and JSON logs",
            "duplicates": "the duplicate check",
        }[args.pairs_of]
        report_pairs(pairs, what)
    else:
        report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
