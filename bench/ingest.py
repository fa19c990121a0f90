"""Ingest benchmark: a bare pull+decode+ack consumer vs the service draining the same backlog.

    uv run python bench/ingest.py [--events 1000000] [--batch 100] [--quick] [--only batch]
                                  [--processes 2]

Two scenarios, each on its own embedded nats-server (loopback, free port) with a preloaded
backlog of stock trades: one event per message (`--single-events`, default 300k) and
`--batch` events per JSON-array message (`--events`, default 1M). In each, the phases run
one after the other, each in fresh processes (so peak RSS is per phase) against its own
durable consumer:
  (a) bare:      pull, decode each message into structs (msgspec), ack in groups of 1000,
                 with the same pull consumer and credit as the service: the floor
  (b) service:   the headless Service with default settings writing Bronze Parquet
  (c) processes: `lakeconsole --headless --processes N` (skipped with `--processes 0`)
and prints events/s, the ratios b/a and c/a, each phase's peak RSS (VmHWM; summed over
the processes of (c)), the CPU nats-server used and how busy the cores were, and the most
rows the service held decoded at once (its own counter). Timing (wall and CPU, all
threads) leaves start-up out: (a) and (b) start once their child has imported its modules
(pandas too, which pyarrow loads lazily at the first flush) and built its objects; (c)
once every child has flushed, over what was left of the backlog then.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lakeconsole.config import Settings, load_settings  # noqa: E402
from lakeconsole.contract.schemas import by_subject  # noqa: E402
from lakeconsole.contract.wire import BronzeDecoder  # noqa: E402
from lakeconsole.demo.feed import DemoFeed  # noqa: E402
from lakeconsole.ingest.bus import NATSBus  # noqa: E402
from lakeconsole.ingest.embedded import EmbeddedNATS  # noqa: E402
from lakeconsole.service import Service  # noqa: E402

SUBJECT = "market.stocks.trades"


async def preload(url: str, events: int, batch: int) -> int:
    """Publish `events` trades as messages of `batch` events; return the events published."""
    bus = NATSBus()
    await bus.connect(url)
    await bus.ensure_streams([SUBJECT])
    feed = DemoFeed(seed=7)
    messages = events // batch
    singles = (p for _, p in feed.trades(messages * batch))
    payloads = singles
    if batch > 1:
        payloads = (b"[" + b",".join(itertools.islice(singles, batch)) + b"]"
                    for _ in range(messages))
    await bus.publish_many(((SUBJECT, p) for p in payloads), confirm=True)
    await bus.close()
    return messages * batch


def settings_for(url: str, root: str, inflight_mb: int | None) -> Settings:
    """Default settings, pointed at the bench's server and lake."""
    overrides: dict[str, Any] = {"storage.root": root or "unused", "nats.url": url}
    if inflight_mb:
        overrides["nats.max_inflight_mb"] = inflight_mb
    return load_settings(env={}, overrides=overrides)


async def phase_bare(url: str, events: int, settings: Settings) -> dict[str, Any]:
    """Pull, decode and ack everything; return wall seconds."""
    bus = NATSBus()
    await bus.connect(url)
    decoder = BronzeDecoder(by_subject(SUBJECT))
    pending: list[Any] = []
    done = asyncio.Event()
    seen = 0
    acks: set[asyncio.Task[Any]] = set()

    def on_msg(msg: Any) -> None:
        nonlocal seen
        seen += len(decoder.decode(msg.data).events)
        pending.append(msg)
        if len(pending) >= 1000 or seen >= events:
            batch = pending[:]
            pending.clear()
            task = asyncio.get_running_loop().create_task(consumer.ack_many(batch))
            acks.add(task)
            task.add_done_callback(acks.discard)
        if seen >= events:
            done.set()

    start, cpu = time.perf_counter(), time.process_time()
    nats_settings = settings.nats  # the same credit and pull sizes as the service
    consumer = await bus.pull_consumer(
        "MARKET", "bench-bare", [SUBJECT], on_msg, credit=nats_settings.max_ack_pending,
        max_ack_pending=nats_settings.max_ack_pending,
        max_bytes=nats_settings.max_inflight_mb * 1024 * 1024,
    )
    await done.wait()
    await asyncio.gather(*acks)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await consumer.stop()
    await bus.close()
    return {"seconds": elapsed, "cpu": cpu}


async def phase_service(settings: Settings) -> dict[str, Any]:
    """Run the Service with default settings until its consumer is drained."""
    url = settings.nats.url
    service = Service(settings)
    nc = await nats.connect(url)  # one watcher connection, opened before the clock starts
    js = nc.jetstream()
    start, cpu = time.perf_counter(), time.process_time()
    await service.start()
    while True:
        info = await js.consumer_info("MARKET", settings.nats.bronze_consumer)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await nc.close()
    peak = max(w.decoded_rows_peak for w in service.writers)
    await service.stop()
    return {"seconds": elapsed, "cpu": cpu, "decoded_rows_peak": peak}


def child(args: argparse.Namespace) -> None:
    settings = settings_for(args.url, args.root, args.inflight_mb)
    if args.phase == "bare":
        out = asyncio.run(phase_bare(args.url, args.events, settings))
    else:
        # pyarrow imports pandas at the service's first pa.array, inside the timed drain:
        # a one-off start cost (2 s here, where PYTHONDONTWRITEBYTECODE makes every import
        # compile), not throughput. Imported first, like every other module of the phase.
        import pandas  # noqa: F401
        out = asyncio.run(phase_service(settings))
    out["rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak RSS: VmHWM, not ru_maxrss, which Linux carries across exec
    (a child would report the parent's peak from before its fork)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase_processes(url: str, root: Path, processes: int, messages: int,
                          server_pid: int) -> dict[str, Any]:
    """`lakeconsole --headless --processes N` on its own durable, timed once every child
    has flushed once (start-up left out, as in the other phases): what was still pending
    then, over the time to drain it, scaled to the whole backlog."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "bench.toml"
    config.write_text(f'[storage]\nroot = "{root / "lake"}"\n[nats]\nurl = "{url}"\n'
                      f'bronze_consumer = "bench-processes"\n')
    log_path = root / "headless.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakeconsole", "--headless", "--processes", str(processes)],
            env={**os.environ, "LAKECONSOLE_CONFIG": str(config)},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        # Each child's first flush imports pandas (pyarrow's shim): wait that out too.
        while not all(f"[p{i}] lakeconsole.ingest.stream_writers: flushed"
                      in log_path.read_text() for i in range(processes)):
            assert proc.poll() is None, log_path.read_text()
            await asyncio.sleep(0.01)
            with contextlib.suppress(nats.js.errors.NotFoundError):
                info = await js.consumer_info("MARKET", "bench-processes")
                if not info.num_pending:  # one child took it all: nothing left to time
                    raise RuntimeError("the backlog was drained before every child had "
                                       "flushed: too small to time (drop --quick)")
        start, cpu = time.perf_counter(), tree_cpu(proc.pid)
        server_cpu = cpu_seconds(server_pid)
        info = await js.consumer_info("MARKET", "bench-processes")
        left = info.num_pending + info.num_ack_pending
        while info.num_pending or info.num_ack_pending:
            await asyncio.sleep(0.05)
            info = await js.consumer_info("MARKET", "bench-processes")
        elapsed, cpu = time.perf_counter() - start, tree_cpu(proc.pid) - cpu
        server_cpu = cpu_seconds(server_pid) - server_cpu
        rss = sum(peak_rss_mb(p.pid) for p in tree(proc.pid))
    finally:
        await nc.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    scale = messages / max(left, 1)
    return {"seconds": elapsed * scale, "cpu": cpu * scale, "server_cpu": server_cpu * scale,
            "rss_mb": rss, "timed": left / messages}


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants."""
    top = psutil.Process(pid)
    return [top, *top.children(recursive=True)]


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process tree so far."""
    return sum(sum(p.cpu_times()[:2]) for p in tree(pid))


def run_phase(phase: str, url: str, events: int, root: str, inflight_mb: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--url", url, "--events", str(events),
         "--root", root, "--inflight-mb", str(inflight_mb)],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def scenario(events: int, batch: int, inflight_mb: int, processes: int) -> float:
    """Preload, run the phases, print their figures; return the wall ratio b/a."""
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNATS(Path(tmp) / "nats") as server:
        t0 = time.perf_counter()
        events = asyncio.run(preload(server.url, events, batch))
        print(f"\n{events:,} events as {events // batch:,} messages of {batch} "
              f"(preloaded in {time.perf_counter() - t0:.1f} s)")
        assert server.pid is not None
        phases = {}
        for phase, root in (("bare", ""), ("service", str(Path(tmp) / "lake"))):
            before = cpu_seconds(server.pid)
            phases[phase] = run_phase(phase, server.url, events, root, inflight_mb)
            phases[phase]["server_cpu"] = cpu_seconds(server.pid) - before
        if processes > 1:
            try:
                phases["processes"] = asyncio.run(phase_processes(
                    server.url, Path(tmp) / "processes", processes, events // batch,
                    server.pid))
            except RuntimeError as exc:
                print(f"  (c) --processes {processes}: not timed: {exc}")
    bare, svc = phases["bare"], phases["service"]
    a, b = events / bare["seconds"], events / svc["seconds"]
    cores = os.cpu_count() or 1
    rows = [("(a) bare consumer", bare), ("(b) headless service", svc)]
    if "processes" in phases:
        rows.append((f"(c) --processes {processes}", phases["processes"]))
    for label, r in rows:
        rate = events / r["seconds"]
        # The server shares the cores: how busy the machine was says what bounds a phase.
        busy = (r["cpu"] + r["server_cpu"]) / (r["seconds"] * cores)
        print(f"  {label:<21}: {rate:>9,.0f} events/s ({r['seconds']:.2f} s), "
              f"{events / r['cpu']:>9,.0f} per CPU-second, peak RSS {r['rss_mb']:.0f} MB; "
              f"nats-server {r['server_cpu']:.1f} CPU-s, {cores} cores {busy:.0%} busy")
    print(f"  rows held decoded at most: {svc['decoded_rows_peak']:,}")
    print(f"  ratio b/a: {b / a:.2f} wall, {bare['cpu'] / svc['cpu']:.2f} CPU")
    if "processes" in phases:
        c = phases["processes"]
        print(f"  ratio c/a: {bare['seconds'] / c['seconds']:.2f} wall (timed over the "
              f"{c['timed']:.0%} of the backlog left once all {processes} children had flushed; "
              f"peak RSS summed over them and their supervisor)")
    return float(b / a)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events in the batch scenario (default 1M)")
    parser.add_argument("--single-events", type=int, default=300_000,
                        help="events in the one-event-per-message scenario (default 300k)")
    parser.add_argument("--batch", type=int, default=100, help="events per batch message")
    parser.add_argument("--quick", action="store_true", help="a tenth of the events")
    parser.add_argument("--only", choices=["single", "batch"], help="run one scenario")
    parser.add_argument("--inflight-mb", type=int, default=0,
                        help="nats.max_inflight_mb for both phases (default: the setting's)")
    parser.add_argument("--processes", type=int, default=2, metavar="N",
                        help="also drain with `--headless --processes N` (0: skip)")
    parser.add_argument("--phase", choices=["bare", "service"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    scale = 10 if args.quick else 1
    ratios = {}
    if args.only != "batch":
        ratios["single"] = scenario(args.single_events // scale, 1, args.inflight_mb,
                                    args.processes)
    if args.only != "single":
        ratios[f"batch of {args.batch}"] = scenario(args.events // scale, args.batch,
                                                    args.inflight_mb, args.processes)
    print("\n" + "   ".join(f"{k}: ratio {v:.2f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
