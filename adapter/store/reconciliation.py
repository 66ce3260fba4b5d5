"""Reconciliation queries (issue #12): our journal (audit_log: every movement NewStore asked for
that the ledger confirmed) against the mirror (ledger_entries: what the ledger shows)."""

from __future__ import annotations

from datetime import datetime

# Operations that move money or make a card, and the sign their ledger entry must have.
SIGNS = {"issue": 1, "activate": 1, "authorize": -1, "refund": 1, "revoke": 1, "reverse": 1}

_JOURNAL = """
    SELECT a.operation, a.write_id, a.shopify_card_id AS card_id, a.last_characters, a.amount, a.currency,
           a.created_at,
           s.synced_at,
           count(e.entry_id) AS matches,
           min(e.amount) AS entry_amount, min(e.currency) AS entry_currency,
           -- What its PUT wrote over, which its first applied correction restored (a later round
           -- restores what that correction wrote over in turn: not the write's). None where that
           -- correction stands for the write itself (its own PUT changed nothing).
           (SELECT coalesce(min(r.amount) FILTER (WHERE r.repair_id = first.repair_id), 0)
              FROM balance_repairs r,
                   LATERAL (SELECT min(f.repair_id) AS repair_id FROM balance_repairs f
                             WHERE f.write_id = a.write_id AND f.state = 'applied') first
             WHERE r.write_id = a.write_id AND r.state = 'applied'
               AND NOT EXISTS (SELECT 1 FROM ledger_writes w
                                WHERE w.write_id = r.write_id AND w.ledger_transaction_id = r.entry_id)) AS restored
      FROM audit_log a
      LEFT JOIN ledger_entries e ON e.write_id = a.write_id AND e.cause <> 'repair'
      LEFT JOIN card_sync s ON s.ledger_card_id = a.shopify_card_id
     WHERE a.operation = ANY($1::text[]) AND a.created_at >= $2
     GROUP BY a.id, s.synced_at
"""


async def journal(conn, since: datetime) -> list[dict]:
    """Each journal movement since `since`, with what the mirror holds for its write."""
    return [dict(row) for row in await conn.fetch(_JOURNAL, list(SIGNS), since)]


async def orphan_entries(conn, since: datetime) -> list[dict]:
    """Mirror entries carrying our marker (or our write) that no journal movement accounts for."""
    rows = await conn.fetch(
        """SELECT e.ledger_card_id AS card_id, s.last_characters, e.entry_id, e.write_id, e.operation, e.amount,
                  e.currency, e.occurred_at,
                  -- A debit nobody answered whose credit-back the ledger refused: an operator's
                  -- review names it (payments.reverse_unanswered).
                  (SELECT min(v.review_id) FROM ledger_writes w
                     JOIN ledger_writes r ON r.idempotency_id = w.idempotency_id AND r.operation = 'reverse'
                     JOIN ledger_reviews v ON v.write_id = r.write_id
                    WHERE w.write_id = e.write_id) AS review_id
             FROM ledger_entries e LEFT JOIN card_sync s ON s.ledger_card_id = e.ledger_card_id
            WHERE e.origin = 'ours' AND e.cause <> 'repair' AND e.occurred_at >= $1
              AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.write_id = e.write_id)
              -- A debit nobody answered, credited back by the reconciler (its 'reverse' write, on
              -- the same request's record, is in the journal): accounted for, debit and credit.
              AND NOT EXISTS (SELECT 1 FROM ledger_writes w
                                JOIN ledger_writes r ON r.idempotency_id = w.idempotency_id AND r.operation = 'reverse'
                                JOIN audit_log ra ON ra.write_id = r.write_id
                               WHERE w.write_id = e.write_id)""",
        since,
    )
    return [dict(row) for row in rows]


async def unbalanced_cards(conn) -> list[dict]:
    """Cards whose whole history the mirror holds (it has their creation) and whose balance, as
    last read, is not the sum of their entries."""
    rows = await conn.fetch(
        """SELECT s.ledger_card_id AS card_id, s.last_characters, s.balance, s.currency, sum(e.amount) AS entries
             FROM card_sync s JOIN ledger_entries e ON e.ledger_card_id = s.ledger_card_id
            GROUP BY s.ledger_card_id
           HAVING bool_or(e.operation IN ('issue', 'activate') OR e.detail = 'creation')
              AND sum(e.amount) <> s.balance"""
    )
    return [dict(row) for row in rows]


async def foreign_by_cause(conn, since: datetime) -> list[dict]:
    rows = await conn.fetch(
        """SELECT currency, cause, count(*) AS movements, sum(amount) AS total FROM ledger_entries
            WHERE origin = 'foreign' AND occurred_at >= $1 GROUP BY currency, cause ORDER BY currency, cause""",
        since,
    )
    return [dict(row) for row in rows]


async def shift_totals(conn, day_start: datetime, day_end: datetime) -> list[dict]:
    """Per currency: what NewStore moved (the journal) and what the ledger shows of it (the mirror,
    our entries), by kind of movement, for one day."""
    rows = await conn.fetch(
        """WITH ours AS (
               SELECT a.currency,
                      CASE WHEN a.operation IN ('issue', 'activate') THEN 'sales'
                           WHEN a.operation = 'authorize' THEN 'redemptions' ELSE 'refunds' END AS kind,
                      a.amount AS asked,
                      -- the write's own entry and, on an absolute ledger, the correcting PUTs it
                      -- needed: together they moved exactly what the write asked for
                      (SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e WHERE e.write_id = a.write_id) AS shown
                 FROM audit_log a
                WHERE a.operation = ANY($1::text[]) AND a.created_at >= $2 AND a.created_at < $3)
           SELECT currency, kind, count(*) AS movements, sum(asked) AS newstore, sum(abs(shown)) AS ledger
             FROM ours GROUP BY currency, kind ORDER BY currency, kind""",
        list(SIGNS), day_start, day_end,
    )
    return [dict(row) for row in rows]
