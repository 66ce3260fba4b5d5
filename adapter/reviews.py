"""`giftcard-adapter reviews list|resolve`: the writes whose outcome only a person can decide.

A review is opened when the ledger's own state cannot prove whether one of our absolute-balance
PUTs landed, or when a foreign change it overwrote could not be restored (adapter.ledgers.absolute).
Such a write is never resent: the operator looks at the card in the ledger's admin, corrects it
there if needed, and resolves the review here with what they found. Output holds ledger ids,
amounts and write ids, never a card code.
"""

from __future__ import annotations

from adapter.store import balance_intents


def format_reviews(reviews: list[balance_intents.Review]) -> list[str]:
    if not reviews:
        return ["no open reviews"]
    lines = [f"{len(reviews)} review(s):"]
    for review in reviews:
        state = f"resolved {review.resolved_at:%Y-%m-%d %H:%M}Z: {review.resolution}" if review.resolved_at else "open"
        facts = ", ".join(f"{key}={value}" for key, value in sorted(review.detail.items()) if value is not None)
        lines.append(f"#{review.review_id} {review.created_at:%Y-%m-%d %H:%M:%S}Z {review.reason}"
                     f" card={review.ledger_card_id} write={review.write_id} ({review.operation}) [{state}] {facts}")
    return lines


async def list_open(pool, *, include_resolved: bool) -> list[str]:
    async with pool.acquire() as conn:
        return format_reviews(await balance_intents.list_reviews(conn, include_resolved=include_resolved))


async def resolve(pool, review_id: int, resolution: str) -> bool:
    async with pool.acquire() as conn:
        return await balance_intents.resolve_review(conn, review_id, resolution)
