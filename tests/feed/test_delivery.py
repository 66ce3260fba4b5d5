"""Signed webhooks from real Postgres to a real HTTP subscriber, by the worker app.py starts:
once each and in order per card; through a subscriber's outage (500s, timeouts) with nothing
lost or reordered; dead after FEED_MAX_ATTEMPTS and brought back by `feed redeliver`; shared by
two replicas without double sends."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from decimal import Decimal

from adapter.feed import signature
from adapter.http.keys import WORKERS
from adapter.observability import metrics
from tests.conftest import LOG_BUFFER
from tests.feed.conftest import FAST, OLD_SECRET, SECRET, append, card, command, event, queue_empty, queue_rows
from tests.served import wait_for


def _counter(subscriber: str, result: str) -> float:
    return metrics.FEED_DELIVERIES.labels(subscriber, result)._value.get()


async def _adapter(make_adapter, subscriber, **overrides):
    settings = {**FAST, "workers_enabled": True, "feed_subscribers": [subscriber.config()], **overrides}
    return await make_adapter(**settings)


async def test_every_event_reaches_the_subscriber_once_in_order_per_card_and_signed(make_adapter, subscriber, db):
    client = await _adapter(make_adapter, subscriber)
    assert client.server.app[WORKERS].feed.subscribers == ("erp",)
    delivered_before = _counter("erp", "delivered")
    ids = []
    for round_ in range(4):  # interleaved across cards, in several transactions
        ids += await append(db, [event(n, amount=f"{round_ + 1}.05", balance=f"{100 - round_}.10") for n in range(5)])
        ids += await append(db, [event(7, kind="credited", cause="order_refund", order_ref=f"#10{round_}")])
    await wait_for(lambda: len(subscriber.accepted) >= len(ids), timeout=10)
    await wait_for(lambda: queue_empty(db), timeout=5)

    assert sorted(subscriber.sequences()) == ids  # each once
    for ledger_id, sequences in subscriber.by_card().items():
        assert sequences == sorted(sequences), ledger_id
    assert subscriber.refused_signatures == 0
    assert _counter("erp", "delivered") - delivered_before == len(ids)

    first = next(r for r in subscriber.accepted if r.body["sequence"] == ids[0])
    body = first.body
    assert set(body) == {"event_id", "sequence", "card", "kind", "cause", "amount", "balance_after", "currency",
                         "occurred_at", "operation", "order"}
    assert body["card"] == {"ledger_id": card(0), "last_characters": "0000"}
    # Amounts are exact decimal JSON numbers: what was appended, digit for digit.
    assert isinstance(body["amount"], Decimal) and b'"amount":1.05,' in first.raw
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["occurred_at"])
    refund = next(r.body for r in subscriber.accepted if r.body["card"]["ledger_id"] == card(7))
    assert (refund["kind"], refund["cause"], refund["order"], refund["operation"]) == ("credited", "order_refund",
                                                                                       "#100", None)
    # The documented scheme, by hand: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">.
    header = first.headers[signature.HEADER]
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", header)
    assert match, header
    expected = hmac.new(SECRET.encode(), match[1].encode() + b"." + first.raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, match[2])
    assert first.headers[signature.EVENT_ID_HEADER] == body["event_id"]
    assert SECRET not in LOG_BUFFER.getvalue()


async def test_a_subscriber_failing_for_a_while_gets_every_event_in_order_afterwards(make_adapter, subscriber, db):
    client = await _adapter(make_adapter, subscriber)
    failed_before = _counter("erp", "failed")
    subscriber.mode = "fail"
    ids = await append(db, [event(n % 3) for n in range(9)])
    await wait_for(lambda: len(subscriber.attempts) >= 12, timeout=10)   # 500s, each retried
    subscriber.mode = "hang"
    ids += await append(db, [event(n % 4, amount="1.00") for n in range(8)])
    # Timeouts, retried too: four cards' heads hang at once, and come back only once they timed out.
    await wait_for(lambda: subscriber.hung >= 8, timeout=10)
    assert not subscriber.accepted
    rows = await queue_rows(db)
    assert len(rows) == len(ids) and all(r["state"] == "pending" for r in rows)
    # Only each card's oldest event was tried: the others wait behind it.
    tried = {r["event_id"] for r in rows if r["attempts"]}
    assert tried <= {min(r["event_id"] for r in rows if r["ledger_card_id"] == c) for c in {r["ledger_card_id"] for r in rows}}

    subscriber.mode = "ok"
    subscriber.release()
    await wait_for(lambda: len(set(subscriber.sequences())) >= len(ids), timeout=15)
    await wait_for(lambda: queue_empty(db), timeout=5)
    received = subscriber.sequences()
    assert sorted(set(received)) == ids  # none lost
    logged = LOG_BUFFER.getvalue()
    # At least once: an event is sent again only when its answer did not come in time (the
    # subscriber took it, our 0.5 s ran out first: a loaded machine), never for anything else.
    twice = {sequence for sequence in received if received.count(sequence) > 1}
    timed_out = {line["sequence"] for line in map(json.loads, logged.splitlines())
                 if line.get("event") == "feed_delivery_failed" and line.get("error") == "timeout"}
    assert twice <= timed_out, twice - timed_out
    for ledger_id, sequences in subscriber.by_card().items():
        assert sequences == sorted(sequences), ledger_id  # a resend comes before the card's next event
    assert _counter("erp", "failed") - failed_before >= 16
    assert '"error": "timeout"' in logged and '"error": "http 500"' in logged
    assert subscriber.url not in logged and "down for maintenance" not in logged


async def test_dead_after_max_attempts_blocks_its_card_until_redelivered(make_adapter, subscriber, db, database_url):
    client = await _adapter(make_adapter, subscriber, feed_max_attempts=3)
    worker = client.server.app[WORKERS].feed
    dead_before = _counter("erp", "dead")
    subscriber.mode = "fail"
    first, second, other = await append(db, [event(1), event(1, amount="2.00"), event(2)])
    await wait_for(lambda: _dead_count(db, 2), timeout=10)
    rows = {r["event_id"]: r for r in await queue_rows(db)}
    assert (rows[first]["state"], rows[first]["attempts"]) == ("dead", 3)
    assert (rows[other]["state"], rows[other]["attempts"]) == ("dead", 3)
    assert (rows[second]["state"], rows[second]["attempts"]) == ("pending", 0)  # blocked behind the dead one
    assert Counter(a["sequence"] for a in subscriber.attempts) == {first: 3, other: 3}
    assert _counter("erp", "dead") - dead_before == 2

    await worker.read_gauges()
    assert metrics.FEED_DEAD.labels("erp")._value.get() == 2
    assert metrics.FEED_PENDING.labels("erp")._value.get() == 1
    assert metrics.FEED_EVENT_LAG.labels("erp")._value.get() >= 1
    status, out, err = await command(database_url, "status")
    assert status == 1, err
    assert re.search(rf"^erp\s+1\s+2\s+\d+s \(sequence {first},", out, re.M), out
    assert f"erp sequence {first} event " in out and "last error: http 500; 1 later events waiting" in out
    assert SECRET not in out + err

    subscriber.mode = "ok"
    attempts_before = len(subscriber.attempts)
    # One event by UUID: card 1 follows (its later event too), card 2 stays dead.
    first_uuid = next(a["event_id"] for a in subscriber.attempts if a["sequence"] == first)
    status, out, err = await command(database_url, "redeliver", "--subscriber", "erp", "--event", first_uuid)
    assert status == 0, err
    assert "put back 1 dead delivery to pending: erp 1" in out
    await wait_for(lambda: subscriber.sequences() == [first, second], timeout=10)
    await wait_for(lambda: _queued(db, [other]), timeout=5)

    status, out, err = await command(database_url, "redeliver", "--all-dead")
    assert status == 0 and "put back 1 dead delivery" in out, out + err
    await wait_for(lambda: queue_empty(db), timeout=10)
    assert subscriber.sequences() == [first, second, other]
    assert len(subscriber.attempts) - attempts_before == 3
    status, out, err = await command(database_url, "status")
    assert status == 0 and re.search(r"^erp\s+0\s+0\s+-$", out, re.M), out
    # Nothing dead any more: asking for it again says so.
    status, out, err = await command(database_url, "redeliver", "--event", str(first), "999999")
    assert status == 1 and "no event '999999' in the feed" in out, out


async def test_skip_drops_a_dead_delivery_and_its_card_goes_on(make_adapter, subscriber, db, database_url):
    await _adapter(make_adapter, subscriber, feed_max_attempts=1)
    subscriber.mode = "fail"
    first, second = await append(db, [event(3), event(3, amount="3.00")])
    await wait_for(lambda: _dead_count(db, 1), timeout=10)
    subscriber.mode = "ok"
    status, out, err = await command(database_url, "skip", "--subscriber", "erp", "--event", str(second))
    assert status == 1 and "1 of the given events are not dead for erp" in out, out  # only a dead one goes
    status, out, err = await command(database_url, "skip", "--subscriber", "erp", "--event", str(first))
    assert status == 0 and "dropped 1 dead delivery of erp" in out, out + err
    await wait_for(lambda: subscriber.sequences() == [second], timeout=10)
    await wait_for(lambda: queue_empty(db), timeout=5)


async def test_two_replicas_share_the_work_without_double_sends(make_adapter, subscriber, db):
    overrides = {**FAST, "workers_enabled": True, "feed_subscribers": [subscriber.config()], "feed_concurrency": 1}
    replicas = [await make_adapter(**overrides), await make_adapter(**overrides)]
    sent_by = Counter()
    for index, client in enumerate(replicas):
        worker = client.server.app[WORKERS].feed
        original = worker._deliver

        async def counted(item, original=original, index=index):
            sent_by[index] += 1
            return await original(item)

        worker._deliver = counted
    ids = []
    for round_ in range(3):
        ids += await append(db, [event(n, amount=f"{round_ + 1}.00") for n in range(20)])
    await wait_for(lambda: len(subscriber.accepted) >= len(ids), timeout=15)
    await wait_for(lambda: queue_empty(db), timeout=5)
    assert sorted(subscriber.sequences()) == ids  # exactly once each: no double sends
    assert len(subscriber.attempts) == len(ids)
    for ledger_id, sequences in subscriber.by_card().items():
        assert sequences == sorted(sequences), ledger_id
    assert sent_by[0] and sent_by[1] and sum(sent_by.values()) == len(ids), sent_by


async def test_during_a_rotation_each_secret_signs_and_either_verifies(make_adapter, subscriber, db):
    subscriber.secrets = (OLD_SECRET,)  # the subscriber has not switched yet
    await _adapter(make_adapter, subscriber, feed_subscribers=[subscriber.config(secrets=(SECRET, OLD_SECRET))])
    await append(db, [event(4)])
    await wait_for(lambda: subscriber.accepted, timeout=10)
    received = subscriber.accepted[0]
    header = received.headers[signature.HEADER]
    timestamp, signatures = signature.parse(header)
    assert header.startswith(f"t={timestamp},v1=") and len(signatures) == 2
    assert signatures[0] == signature.compute(SECRET, timestamp, received.raw)  # the first secret's first
    assert signature.verify(header, received.raw, [SECRET]) and signature.verify(header, received.raw, [OLD_SECRET])


async def test_a_subscriber_refusing_the_signature_is_a_failure_like_any_other(make_adapter, subscriber, db):
    subscriber.secrets = ("someone-elses-secret-" + "x" * 30,)
    await _adapter(make_adapter, subscriber, feed_subscribers=[subscriber.config(secrets=(SECRET,))])
    await append(db, [event(5)])
    await wait_for(lambda: subscriber.refused_signatures >= 2, timeout=10)
    assert not subscriber.accepted
    (row,) = await queue_rows(db)
    assert row["state"] == "pending" and row["attempts"] >= 2


async def _dead_count(db, n: int) -> bool:
    return sum(r["state"] == "dead" for r in await queue_rows(db)) >= n


async def _queued(db, event_ids: list[int]) -> bool:
    return [r["event_id"] for r in await queue_rows(db)] == event_ids


async def test_shutdown_releases_what_was_claimed_and_not_sent(make_adapter, subscriber, db):
    import asyncio

    client = await make_adapter(**FAST, feed_subscribers=[subscriber.config()])  # workers off: driven here
    worker = client.server.app[WORKERS].feed
    ids = await append(db, [event(n) for n in range(3)])
    stopping = asyncio.Event()
    stopping.set()
    assert await worker.run_once(stopping) == {"released": 3}
    rows = await queue_rows(db)
    assert [r["attempts"] for r in rows] == [0, 0, 0] and not subscriber.attempts
    assert await worker.run_once() == {"delivered": 3}
    assert sorted(subscriber.sequences()) == ids and await queue_empty(db)


async def test_a_claim_whose_lease_ran_out_records_nothing(db):
    from adapter.store import feed_deliveries as queue

    (event_id,) = await append(db, [event(6)])
    async with db.acquire() as conn:
        (first,) = await queue.claim(conn, ("erp",), 10, lease_seconds=0)   # the lease ends at once
        (second,) = await queue.claim(conn, ("erp",), 10, lease_seconds=60)  # another worker's claim
        assert (first.event.event_id, second.event.event_id, second.attempts) == (event_id, event_id, 2)
        assert await queue.claim(conn, ("erp",), 10, lease_seconds=60) == []  # leased: nobody else
        assert not await queue.failed(conn, first, "http 500", retry_in=0)  # lost: changes nothing
        assert await queue.failed(conn, second, "http 500", retry_in=None)  # dead
        assert await queue.claim(conn, ("erp",), 10, lease_seconds=60) == []
        assert await queue.claim(conn, ("other",), 10, lease_seconds=60) == []  # not its row
    (row,) = await queue_rows(db)
    assert (row["state"], row["attempts"]) == ("dead", 2)
