"""End to end with a real nats-server: a producer that skips seqs → exact gaps in the ledger and
in `coverage --json`; late events → stale, then complete after recompaction."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nats
import pytest

from lakeconsole import cli
from lakeconsole import events as ev
from lakeconsole.config import CONFIG_ENV, ENVIRONMENT
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.ledger.feeds import read_feeds
from lakeconsole.ledger.losses import read_losses
from lakeconsole.service import Service
from tests.ingest.helpers import encode, publish, settings_for, trade, wait_for
from tests.ledger.helpers import DAY, TRADES, at

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SUBJECT = "market.stocks.trades"


async def ingest(
    root: Path, url: str, events: list[dict[str, object]], total: int, losses: int = 0
) -> None:
    """Publish `events`, run the service until `total` rows were received (and `losses`
    losses reported by its audit), stop it."""
    if events:
        await publish(url, [(SUBJECT, encode(e)) for e in events])
    service = Service(settings_for(root, url))
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    await service.start()
    try:
        await wait_for(lambda: received(seen) >= total and sum(
            isinstance(e, ev.UpstreamLoss) for e in seen) >= losses, timeout=60)
    finally:
        await service.stop()


def received(seen: list[ev.Event]) -> int:
    return sum(sum(e.counts.values()) for e in seen if isinstance(e, ev.Received))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]]]:
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def test_skipped_seqs_late_events_and_recompaction(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [*ENVIRONMENT, CONFIG_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "lake"
    skipped = {7, 8, 15}
    spy = [trade(s, at(14, s), "SPY") for s in range(20) if s not in skipped]
    spy[11]["ts_event_ns"] = at(14, 10, 30_000_000_000)  # seq 12 before 11: out of order
    qqq = [trade(s, at(14, s), "QQQ") for s in range(5)]
    first = [*spy, spy[3], *qqq]  # seq 3 published twice: a duplicate in Bronze
    await ingest(root, nats_url, first, len(first))

    base = ["--data-root", str(root), "--date", DAY]
    assert cli.main(["compact", *base]) == 0
    record = read_feeds(Storage(str(root)), TRADES, "SPY", DAY)
    assert record is not None
    [feed] = record.feeds
    assert [(g.first, g.last) for g in feed.gaps] == [(7, 8), (15, 15)]
    assert (feed.missing, feed.largest_gap, feed.out_of_order) == (3, 2, 1)
    assert feed.ranges == ((0, 6), (9, 14), (16, 19))

    capsys.readouterr()
    code, rows = run(capsys, "coverage", *base, "--json")
    by_key = {r["partition"]: r for r in rows}
    assert code == 4 and set(by_key) == {"SPY", "QQQ"}
    assert by_key["SPY"]["status"] == "gaps" and by_key["SPY"]["gap_ranges"] == [[7, 8], [15, 15]]
    assert (by_key["SPY"]["duplicates"], by_key["SPY"]["silver_rows"]) == (1, 17)
    assert by_key["QQQ"]["status"] == "complete"

    late = [trade(s, at(14, s), "SPY") for s in sorted(skipped)] + [trade(5, at(14, 5), "QQQ")]
    await ingest(root, nats_url, late, len(late))
    code, rows = run(capsys, "coverage", *base, "--json")
    by_key = {r["partition"]: r for r in rows}
    assert code == 4  # Silver still has the gaps until it is rebuilt
    assert (by_key["SPY"]["status"], by_key["SPY"]["late_rows"]) == ("gaps", 3)
    assert (by_key["QQQ"]["status"], by_key["QQQ"]["late_rows"]) == ("stale", 1)

    assert cli.main(["compact", *base]) == 0
    code, rows = run(capsys, "coverage", *base, "--json")
    assert code == 0
    assert {(r["partition"], r["status"], r["silver_rows"]) for r in rows} == {
        ("SPY", "complete", 20), ("QQQ", "complete", 6)}


async def test_a_loss_of_a_discarding_stream_shows_in_coverage(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """MARKET keeps 100 messages; 200 arrive while the service is down: 100 are lost."""
    for name in [*ENVIRONMENT, CONFIG_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "lake"
    nc = await nats.connect(nats_url)
    await nc.jetstream().add_stream(name="MARKET", subjects=["market.>"], max_msgs=100)
    await nc.close()
    # Loss windows are NATS times: events stamped now, so their hours are the loss's.
    now = time.time_ns()
    await ingest(root, nats_url, [trade(s, now + s) for s in range(50)], 50)
    await publish(nats_url, [(SUBJECT, encode(trade(s, now + s))) for s in range(50, 250)])
    await ingest(root, nats_url, [], 100, losses=1)  # the 100 kept; the start audits

    storage = Storage(str(root))
    [lost] = read_losses(storage)
    assert (lost.first_seq, lost.last_seq, lost.count) == (51, 150, 100)
    assert lost.ts_after_ns is not None
    day = partitioning.hour_of(lost.ts_after_ns)[0]
    base = ["--data-root", str(root), "--date", day]
    assert cli.main(["compact", *base]) == 0
    capsys.readouterr()
    code, rows = run(capsys, "coverage", *base, "--json")
    assert code == 4
    hit = [r for r in rows if r["status"] == "loss"]
    assert hit and {r["lost"] for r in hit} == {100}
    # The same messages seen from the feed: trade seqs 50..149 never reached Bronze.
    assert {tuple(g) for r in hit for g in r["gap_ranges"]} == {(50, 149)}
