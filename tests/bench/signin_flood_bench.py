"""Does a flood of staff sign-ins slow intake? Paired runs, not a timed test.

Starts `inquiry serve` (SQLite, one process) in a fresh folder with one staff account, then
alternates two kinds of run of the same length:

- quiet: a probe posts inquiries at a steady pace (not a load test: one at a time, every
  --interval seconds) and records each one's latency;
- flood: the same probe while wrk floods POST /api/v1/staff/session with wrong passwords.

Runs go A B B A A B ..., so drift (other work on the machine) falls on both sides alike. The
flood comes from one address (--flood-from one: the throttle answers 429 after a few) or from
a new address and account for every request (--flood-from many, the default: every attempt
gets past the per-address and per-account limits and costs an Argon2 check, so only the cap
on concurrent checks stands between the flood and intake).

    .venv/bin/python tests/bench/signin_flood_bench.py [--pairs 3] [--seconds 8]
        [--flood-from many|one] [--connections 16] [--source DIR]

--source runs the server from another checkout of the code (e.g. one without the cap), to
compare. Prints each run's median and p90, each pair's difference, and the median difference.
Exits non-zero only if something crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.bench.intake_bench import MESSAGE, free_port, server

PASSWORD = "correct horse battery staple"

_FLOOD_LUA = """
local many = %(many)s
local threads = {}
counts = {}
function setup(thread) table.insert(threads, thread) end
function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1000000)) end
function request()
  local address = "10.9.9.9"
  local email = "nurse@clinic.ca"
  if many then
    address = string.format("10.%%d.%%d.%%d", math.random(0, 255), math.random(0, 255),
      math.random(1, 254))
    email = string.format("guess%%d@clinic.ca", math.random(1, 100000000))
  end
  local body = string.format('{"email":"%%s","password":"wrong guess %%d"}', email,
    math.random(1, 100000000))
  return wrk.format("POST", "/api/v1/staff/session",
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = address}, body)
end
function response(status, headers, body)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
end
function done(summary, latency, _)
  local merged = {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("counts")) do merged[key] = (merged[key] or 0) + n end
  end
  local parts = {}
  for key, n in pairs(merged) do parts[#parts + 1] = string.format('"%%s":%%d', key, n) end
  io.write(string.format('FLOOD {"requests":%%d,"statuses":{%%s}}\\n', summary.requests,
    table.concat(parts, ",")))
end
"""


@dataclass(frozen=True)
class Run:
    kind: str  # "quiet" or "flood"
    latencies_ms: list[float]
    flood: dict[str, object]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=10)[-1]


def _env(source: Path | None, folder: Path, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "INQUIRY_PORT": str(port),
        "INQUIRY_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'inquiry.db'}",
        "INQUIRY_MAIL_DIR": str(folder / "mail"),
        "INQUIRY_WORKER_IN_PROCESS": "false",  # the probe measures intake, not mail
        "INQUIRY_RATE_LIMIT_PER_IP": "1000000/minute",
        "INQUIRY_RATE_LIMIT_PER_EMAIL": "1000000/hour",
        "INQUIRY_TRUSTED_PROXIES": "127.0.0.1",  # the flood's X-Forwarded-For counts
    }
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


def _add_staff(env: dict[str, str], folder: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "inquiry", "staff", "add", "nurse@clinic.ca", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _probe(base: str, seconds: float, interval: float, start: int) -> list[float]:
    """One inquiry at a time, every `interval` seconds; each one's latency in ms."""
    latencies = []
    deadline = time.monotonic() + seconds
    number = start
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < deadline:
            number += 1
            body = {
                "name": "Ann Example",
                "email": f"probe{number}@example.com",
                "message": MESSAGE,
                "consent": True,
            }
            began = time.perf_counter()
            response = client.post("/api/v1/inquiries", json=body)
            latencies.append((time.perf_counter() - began) * 1000)
            if response.status_code != 201:
                raise RuntimeError(f"intake answered {response.status_code}: {response.text}")
            time.sleep(max(0.0, interval - (time.perf_counter() - began)))
    return latencies


@contextmanager
def _flooding(
    base: str, lua: Path, seconds: float, connections: int
) -> Iterator[dict[str, object]]:
    found: dict[str, object] = {}
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{int(seconds) + 1}s",
        "--timeout",
        "30s",
        "-s",
        str(lua),
        base,
    ]

    def run() -> None:
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout
        match = re.search(r"^FLOOD (.*)$", output, re.MULTILINE)
        found.update(json.loads(match.group(1)) if match else {"output": output})

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)  # let the flood build up before the probe starts
    try:
        yield found
    finally:
        thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--flood-from", choices=["many", "one"], default="many")
    parser.add_argument("--source", type=Path, help="run the server from this checkout")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="signin-flood-") as name:
        folder = Path(name)
        port = free_port()
        env = _env(args.source, folder, port)
        lua = folder / "flood.lua"
        lua.write_text(_FLOOD_LUA % {"many": "true" if args.flood_from == "many" else "false"})
        _add_staff(env, folder)
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "inquiry", "serve"]
        runs: list[Run] = []
        with server(command, env, folder, port):
            _probe(base, 2, args.interval, 10_000_000)  # warm-up, not counted
            order = [("quiet", "flood"), ("flood", "quiet")]
            for pair in range(args.pairs):
                for kind in order[pair % 2]:
                    start = len(runs) * 100_000
                    if kind == "quiet":
                        runs.append(Run(kind, _probe(base, args.seconds, args.interval, start), {}))
                        continue
                    with _flooding(base, lua, args.seconds, args.connections) as flood:
                        latencies = _probe(base, args.seconds, args.interval, start)
                    runs.append(Run(kind, latencies, flood))
                    print(f"  flood: {flood}")
                    time.sleep(1)  # let the password threads drain

    quiet = [run for run in runs if run.kind == "quiet"]
    flooded = [run for run in runs if run.kind == "flood"]
    print(f"\nsource: {args.source or 'this checkout'}; flood from {args.flood_from} address(es)")
    print("pair  quiet p50  flood p50  difference  (quiet p90, flood p90)   ms")
    differences = []
    for pair, (a, b) in enumerate(zip(quiet, flooded, strict=True), start=1):
        differences.append(b.median - a.median)
        print(
            f"{pair:>4}  {a.median:9.1f}  {b.median:9.1f}  {b.median - a.median:+10.1f}"
            f"  ({a.p90:.1f}, {b.p90:.1f})  n={len(a.latencies_ms)}/{len(b.latencies_ms)}"
        )
    print(f"median difference: {statistics.median(differences):+.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
