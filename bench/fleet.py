"""A chain's events through NATS JetStream into PostgreSQL with 1, 2 and 4 central consumers.

Everything runs on loopback against a **private** NATS (its own ports, a temporary store folder;
``--cluster 3`` starts a three-node JetStream cluster and an R3 stream) so the shared server is
untouched, and a fresh PostgreSQL database per run (``--pg-url``, dropped afterwards).

edges      ``--edges`` processes, each the edge side of ``--stores / --edges`` simulated stores: the
           real ``NatsSink`` (SQLite outbox fsync'd per write, publish with acknowledgement,
           ``Nats-Msg-Id`` = event id). Each store runs shoppers whose visits produce the event mix
           of ``bench/ingest.py`` (``sim.fleet.visit_events``: start, zone enter/exit with dwell,
           intent changes, queue update, end; 24 events per visit).
capacity   the stream is filled with ``--events`` events first; then N ``storelens central``
           processes (the CLI, one durable, ``--batch`` / ``--inflight``) drain it into a fresh
           database. events/s = rows / (last commit's transaction start − first's), from the
           rows' ``received_at``, so process start-up is not counted.
latency    edges publish live a trading day compressed into ``--seconds`` (``storelens.sim.fleet``:
           opening 08:00, lunchtime peak of ``--rate`` events/s for the fleet, afternoon dip, evening
           peak, closing 21:00; each store's share by its camera count, half the stores large with
           30 cameras, half small with 8) while N consumers
           run; each event's ``ts`` is stamped when the edge writes it, so ``received_at − ts`` is
           edge → row (to the start of the committing transaction; the commit itself adds its
           duration, tens of ms at these batch sizes).
loss/dups  at the end of every run: rows vs. events produced (ids are unique per run), and the
           stored aggregates' event count vs. rows (a projection applied twice shows up there).
ceiling    ``store_events`` straight into PostgreSQL from memory in batches of ``--batch``, with 1
           and 2 writer processes: what the database takes without NATS in between.

    .venv/bin/python bench/fleet.py [--stores 1000] [--events 120000] [--rate 4000] [--cluster 3]
    .venv/bin/python bench/fleet.py --sweep   # 1 consumer: batch x inflight, capacity only
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/servers.py: private servers

from ingest import with_pg_database
from servers import PrivateNats, create_stream
from storelens.config.outputs import NatsConfig
from storelens.events.models import Event
from storelens.sim.fleet import FleetLoad, FleetStore, fleet_stores, mean_of_day, visit_events
from storelens.sinks.nats import NatsSink
from storelens.storage import open_database, store_events

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------- edges
@dataclass(frozen=True, slots=True)
class EdgeJob:
    cfg: dict[str, Any]
    spool: str
    run: str
    edge: int
    stores: list[FleetStore]
    events: int  # backlog: how many this edge produces
    rate: float | None  # live: this edge's events/s at the lunchtime peak; None = backlog, as fast as possible
    day_s: float = 30.0  # live: wall seconds for the 13 opening hours (sim/fleet.py)


def _edge_events(job: EdgeJob) -> Iterator[Event]:
    """Backlog: the stores' visits round-robin (store 1's visit, store 2's, ...), so every batch
    mixes stores; ``ts`` synthetic, a visit every 12 s per store."""
    n = 0
    visit = 0
    while True:
        for store in job.stores:
            base = T0 + timedelta(seconds=12 * visit)
            for j, (kind, sub, cam, zone, payload) in enumerate(visit_events(store.store_id, visit)):
                if n >= job.events:
                    return
                yield Event(
                    id=f"{job.run}{job.edge:03d}{n:09d}",
                    type=kind,
                    store_id=store.store_id,
                    camera_id=cam,
                    zone_id=zone,
                    subject=sub,
                    ts=base + timedelta(seconds=25 * j),
                    payload=payload,
                )
                n += 1
        visit += 1


def _edge_main(job: EdgeJob, produced: Any = None) -> None:
    sink = NatsSink(NatsConfig(**job.cfg), spool_dir=job.spool, concurrency=256)
    try:
        tick = 0.05
        t = time.monotonic()
        if job.rate is None:  # backlog
            events = _edge_events(job)
            while chunk := [e for _, e in zip(range(1000), events, strict=False)]:
                sink.write(chunk)
        else:  # live: a compressed trading day, opening to closing (sim/fleet.py)
            load = FleetLoad(job.stores, peak_events_s=job.rate, day_s=job.day_s, id_prefix=f"{job.run}{job.edge:03d}")
            while not load.closed:
                sink.write(load.next_tick(tick))
                t += tick
                time.sleep(max(0.0, t - time.monotonic()))
            produced.put(load.produced)
        if not sink.wait_delivered(600):
            raise SystemExit(f"edge {job.edge}: not delivered: {sink.stats()}")
    finally:
        sink.close()


def run_edges(
    cfg: NatsConfig,
    root: Path,
    run: str,
    stores: int,
    edges: int,
    events: int,
    rate: float | None,
    day_s: float = 30.0,
    produced: Any = None,
) -> list[mp.Process]:
    fleet = fleet_stores(stores)
    cams = sum(s.cameras for s in fleet)
    procs = []
    ctx = mp.get_context("spawn")
    for k in range(edges):
        mine = fleet[k::edges]
        job = EdgeJob(
            cfg=cfg.model_dump(),
            spool=str(root / f"spool-{run}-{k}"),
            run=run,
            edge=k,
            stores=mine,
            events=events // edges + (1 if k < events % edges else 0),
            rate=None if rate is None else rate * sum(s.cameras for s in mine) / cams,
            day_s=day_s,
        )
        p = ctx.Process(target=_edge_main, args=(job, produced), daemon=True)
        p.start()
        procs.append(p)
    return procs


def join_all(procs: list[mp.Process], what: str) -> None:
    for p in procs:
        p.join(900)
        if p.exitcode != 0:
            raise RuntimeError(f"{what}: a process exited with {p.exitcode}")


# ------------------------------------------------------------------------------ consumers
def start_consumers(
    cfg: NatsConfig, url: str, n: int, durable: str, batch: int, inflight: int, logs: Path
) -> list[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "storelens.cli.main", "central", "--db", url, "--stream", cfg.stream]
    args += ["--prefix", cfg.subject_prefix, "--durable", durable, "--batch", str(batch), "--inflight", str(inflight)]
    for s in cfg.servers:
        args += ["--nats", s]
    procs = []
    for i in range(n):
        out = (logs / f"central-{durable}-{i}.log").open("wb")
        procs.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT))
    return procs


def stop_consumers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()


def db_rows(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one())
    finally:
        engine.dispose()


def wait_rows(url: str, n: int, procs: list[subprocess.Popen[bytes]], timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while db_rows(url) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {db_rows(url)} of {n} rows after {timeout_s:.0f} s")
        if all(p.poll() is not None for p in procs):
            raise RuntimeError("every central process exited (see the logs)")
        time.sleep(0.2)


@dataclass(frozen=True, slots=True)
class Result:
    rows: int
    rate: float
    lost: int
    dups: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


def measure(url: str, produced: int, *, latency: bool) -> Result:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows, span = conn.exec_driver_sql(
                "SELECT count(*), extract(epoch FROM max(received_at) - min(received_at)) FROM events"
            ).one()
            agg = conn.exec_driver_sql(
                "SELECT coalesce(sum(events), 0) FROM aggregates WHERE zone_id = '' AND bucket_s = 3600"
            ).scalar_one()
            pct: tuple[Any, ...] = (None, None, None)
            if latency:
                pct = tuple(
                    conn.exec_driver_sql(
                        "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP"
                        " (ORDER BY extract(epoch FROM received_at - ts)) FROM events"
                    ).scalar_one()
                )
    finally:
        engine.dispose()
    return Result(
        rows=int(rows),
        rate=int(rows) / max(float(span or 0.0), 1e-9),
        lost=produced - int(rows),
        dups=int(agg) - int(rows),
        p50=pct[0],
        p95=pct[1],
        p99=pct[2],
    )


def capacity(cfg: NatsConfig, admin: str, n: int, produced: int, batch: int, inflight: int, logs: Path) -> Result:
    out: list[Result] = []

    def body(url: str) -> None:
        open_database(url).close()  # migrations are not part of the measurement
        durable = f"cap{n}b{batch}i{inflight}{uuid.uuid4().hex[:4]}"
        procs = start_consumers(cfg, url, n, durable, batch, inflight, logs)
        try:
            wait_rows(url, produced, procs)
        finally:
            stop_consumers(procs)
        out.append(measure(url, produced, latency=False))

    with_pg_database(admin, body)
    return out[0]


def latency_run(cfg: NatsConfig, admin: str, root: Path, args: argparse.Namespace, n: int, logs: Path) -> Result:
    out: list[Result] = []
    produced: list[int] = []
    run = f"L{n}{uuid.uuid4().hex[:5]}"

    def body(url: str) -> None:
        open_database(url).close()
        durable = f"live{n}{uuid.uuid4().hex[:4]}"
        # a durable created now (deliver all) would also read the backlog: start it at the new messages
        asyncio.run(_durable_from_now(cfg, durable))
        procs = start_consumers(cfg, url, n, durable, args.batch, args.inflight, logs)
        try:
            time.sleep(3.0)  # let the processes connect, so start-up is not counted as latency
            q = mp.get_context("spawn").Queue()
            edges = run_edges(cfg, root, run, args.stores, args.edges, 0, args.rate, args.seconds, q)
            counts = [q.get(timeout=900) for _ in edges]
            join_all(edges, "edges")
            produced.append(sum(counts))
            wait_rows(url, produced[0], procs)
        finally:
            stop_consumers(procs)
        out.append(measure(url, produced[0], latency=True))

    with_pg_database(admin, body)
    return out[0]


async def _durable_from_now(cfg: NatsConfig, durable: str) -> None:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from storelens.sinks.nats import CONSUMER_ACK_WAIT_S, CONSUMER_MAX_ACK_PENDING

    nc = await nats.connect(servers=list(cfg.servers))
    try:
        await nc.jetstream().add_consumer(
            cfg.stream,
            ConsumerConfig(
                durable_name=durable,
                deliver_policy=DeliverPolicy.NEW,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=CONSUMER_ACK_WAIT_S,
                max_deliver=-1,
                max_ack_pending=CONSUMER_MAX_ACK_PENDING,
                filter_subject=f"{cfg.subject_prefix}.>",
            ),
        )
    finally:
        await nc.close()


# -------------------------------------------------------------------------------- ceiling
def _direct_main(url: str, job: EdgeJob, batch: int, out: Any) -> None:
    events = list(_edge_events(job))
    with open_database(url) as db:
        t = time.perf_counter()
        for i in range(0, len(events), batch):
            with db.begin() as conn:
                store_events(conn, events[i : i + batch])
        out.put(time.perf_counter() - t)


def direct(admin: str, stores: int, events: int, batch: int, writers: int) -> float:
    rates: list[float] = []

    def body(url: str) -> None:
        open_database(url).close()
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        names = fleet_stores(stores)
        procs = []
        for k in range(writers):
            job = EdgeJob({}, "", f"D{k}", k, names[k::writers], events // writers, None)
            procs.append(ctx.Process(target=_direct_main, args=(url, job, batch, q)))
        for p in procs:
            p.start()
        times = [q.get(timeout=900) for _ in procs]
        join_all(procs, "direct writers")  # type: ignore[arg-type]
        rates.append(db_rows(url) / max(times))

    with_pg_database(admin, body)
    return rates[0]


# ----------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", type=int, default=1000)
    ap.add_argument("--edges", type=int, default=4, help="edge processes sharing the stores")
    ap.add_argument("--events", type=int, default=120_000, help="backlog drained in each capacity run")
    ap.add_argument("--rate", type=float, default=4000, help="live runs: fleet events/s at the lunchtime peak")
    ap.add_argument("--seconds", type=float, default=30, help="live runs: wall seconds for a trading day (08-21 h)")
    ap.add_argument("--consumers", default="1,2,4")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--inflight", type=int, default=2)
    ap.add_argument("--cluster", type=int, default=1, choices=(1, 3), help="NATS nodes (3: R3 stream)")
    ap.add_argument("--sweep", action="store_true", help="1 consumer, batch x inflight, capacity only")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument(
        "--latency-only", action="store_true", help="only the live runs: no backlog, capacity or direct ceiling"
    )
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    counts = [int(c) for c in args.consumers.split(",")]
    root = Path(tempfile.mkdtemp(prefix="storelens-fleet-"))
    tag = uuid.uuid4().hex[:8]
    try:
        with PrivateNats(root / "nats", nodes=args.cluster) as nats_servers:
            servers = nats_servers.urls
            cfg = NatsConfig(
                enabled=True, servers=servers, stream=f"FLEET_{tag}", subject_prefix=f"fleet_{tag}", max_age_s=3600
            )
            asyncio.run(create_stream(cfg, args.cluster))
            if args.latency_only:
                args.events = 0
            t = time.perf_counter()
            if args.events:
                join_all(run_edges(cfg, root, "C", args.stores, args.edges, args.events, None), "edges")
            pub = args.events / (time.perf_counter() - t)
            print(
                f"\n{args.stores:,} stores over {args.edges} edge sinks -> NATS ({args.cluster} node(s), "
                f"R{args.cluster}) -> PostgreSQL; backlog {args.events:,} events published at {pub:,.0f}/s",
                flush=True,
            )
            if args.sweep:
                print(f"  {'batch':>6}{'inflight':>9}{'events/s':>11}{'lost':>6}{'dups':>6}")
                for batch in (250, 500, 1000, 2000):
                    for inflight in (1, 2, 3):
                        r = capacity(cfg, args.pg_url, 1, args.events, batch, inflight, root)
                        print(f"  {batch:>6}{inflight:>9}{r.rate:>11,.0f}{r.lost:>6}{r.dups:>6}", flush=True)
                return
            caps: dict[int, Result] = {}
            for n in [] if args.latency_only else counts:  # every capacity run before any live one
                caps[n] = capacity(cfg, args.pg_url, n, args.events, args.batch, args.inflight, root)
                print(f"  capacity, {n} consumer(s): {caps[n].rate:,.0f} events/s", flush=True)
            lats: dict[int, Result] = {}
            for n in [] if args.no_latency else counts:
                lats[n] = latency_run(cfg, args.pg_url, root, args, n, root)
                print(f"  latency, {n} consumer(s): p95 {lats[n].p95} s", flush=True)
            rows = [(f"{n} central consumer(s)", caps.get(n), lats.get(n)) for n in counts]
        writers = () if args.latency_only else (1, 2)
        ceiling = {w: direct(args.pg_url, args.stores, args.events, args.batch, w) for w in writers}
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{1000 * x:,.0f}"

    first = rows[0][1]
    base = first.rate if first else None

    def rate(r: float | None) -> str:
        return "-" if r is None else f"{r:,.0f}"

    def times(r: float | None) -> str:
        return "-" if r is None or base is None else f"{r / base:.1f}"

    print(
        f"\n  batch {args.batch}, {args.inflight} in flight; latency over a trading day of {args.seconds:.0f} s"
        f" (peak {args.rate:,.0f} events/s at lunch, mean {args.rate * mean_of_day():,.0f}/s)"
    )
    print(f"  {'path':<34}{'events/s':>10}{'x 1':>6}{'lost':>6}{'dups':>6}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
    for label, cap, lat in rows:
        lost = (cap.lost if cap else 0) + (lat.lost if lat else 0)
        dups = (cap.dups if cap else 0) + (lat.dups if lat else 0)
        p50, p95, p99 = (lat.p50, lat.p95, lat.p99) if lat else (None, None, None)
        r = cap.rate if cap else None
        print(f"  {label:<34}{rate(r):>10}{times(r):>6}{lost:>6}{dups:>6}{ms(p50):>8}{ms(p95):>8}{ms(p99):>8}")
    for w, wrate in ceiling.items():
        print(f"  {f'direct store_events, {w} writer(s)':<34}{wrate:>10,.0f}{times(wrate):>6}")
    print(f"  ({os.cpu_count()} CPU cores; capacity = backlog drain, latency = edge write -> transaction start)")


if __name__ == "__main__":
    main()
