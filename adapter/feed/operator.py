"""`giftcard-adapter feed status | redeliver | skip`: the feed's delivery queue for an operator.

Output names subscribers, sequences, event UUIDs, ledger card ids and last characters: never a
secret, a URL or a code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapter.feed.events import occurred
from adapter.store import feed_deliveries as queue


def age(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


async def status(pool, configured: tuple[str, ...]) -> tuple[list[str], int]:
    """The report's lines, and the exit status: 1 when something is dead, else 0."""
    async with pool.acquire() as conn:
        queues = {s.subscriber: s for s in await queue.status(conn)}
        dead = await queue.dead_letters(conn)
    names = list(configured) + sorted(set(queues) - set(configured))
    lines = []
    if not names:
        lines.append("no subscribers configured (FEED_SUBSCRIBERS) and nothing queued")
    else:
        lines.append(f"{'subscriber':<24} {'pending':>9} {'dead':>7}  oldest undelivered")
    for name in names:
        found = queues.get(name)
        label = name if name in configured else f"{name} (not configured)"
        if found is None:
            lines.append(f"{label:<24} {0:>9} {0:>7}  -")
            continue
        oldest = (f"{age(found.oldest_age_seconds)} (sequence {found.oldest_event_id},"
                  f" occurred {occurred(found.oldest_occurred_at)})")
        lines.append(f"{label:<24} {found.pending:>9} {found.dead:>7}  {oldest}")
    if dead:
        lines.append("")
        lines.append("dead (each blocks its card's later events for that subscriber;"
                     " `feed redeliver` puts it back, `feed skip` drops it):")
        for letter in dead:
            lines.append(f"  {letter.subscriber} sequence {letter.event_id} event {letter.event_uuid}"
                         f" card {letter.ledger_card_id} ending {letter.last_characters or '?'} {letter.kind},"
                         f" {letter.attempts} attempts, last error: {letter.last_error or '-'};"
                         f" {letter.blocked} later events waiting")
    total_dead = sum(s.dead for s in queues.values())
    if total_dead > len(dead):
        lines.append(f"  ... and {total_dead - len(dead)} more")
    return lines, 1 if total_dead else 0


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    status: int = 0


async def redeliver(pool, subscriber: str | None, references: list[str] | None, configured: tuple[str, ...]) -> Outcome:
    """Dead rows back to pending, attempts reset: the given events (a sequence or an event
    UUID each) or, with references None, every dead row; of one subscriber or all."""
    outcome = Outcome()
    if subscriber is not None and subscriber not in configured:
        outcome.lines.append(f"warning: {subscriber!r} is not in FEED_SUBSCRIBERS: no worker will deliver to it")
    async with pool.acquire() as conn:
        event_ids = None
        if references is not None:
            resolved = await queue.resolve_events(conn, references)
            unknown = [reference for reference, event_id in resolved.items() if event_id is None]
            for reference in unknown:
                outcome.lines.append(f"no event {reference!r} in the feed")
                outcome.status = 1
            event_ids = sorted({event_id for event_id in resolved.values() if event_id is not None})
        counts = await queue.redeliver(conn, subscriber, event_ids) if event_ids != [] else {}
    total = sum(counts.values())
    outcome.lines.append(f"put back {total} dead deliver{'y' if total == 1 else 'ies'} to pending"
                         + (": " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) if counts else ""))
    if references is not None and not total and not outcome.status:
        outcome.lines.append("none of the given events is dead" + (f" for {subscriber}" if subscriber else ""))
        outcome.status = 1
    return outcome


async def skip(pool, subscriber: str, references: list[str]) -> Outcome:
    """Drop dead rows: those events are not sent to `subscriber` by webhook (the pull API keeps them)."""
    outcome = Outcome()
    async with pool.acquire() as conn:
        resolved = await queue.resolve_events(conn, references)
        for reference, event_id in resolved.items():
            if event_id is None:
                outcome.lines.append(f"no event {reference!r} in the feed")
                outcome.status = 1
        event_ids = sorted({event_id for event_id in resolved.values() if event_id is not None})
        dropped = await queue.skip(conn, subscriber, event_ids) if event_ids else 0
    outcome.lines.append(f"dropped {dropped} dead deliver{'y' if dropped == 1 else 'ies'} of {subscriber}"
                         " (the pull API still has the events)")
    if dropped < len(event_ids):
        outcome.lines.append(f"{len(event_ids) - dropped} of the given events are not dead for {subscriber}")
        outcome.status = 1
    return outcome
