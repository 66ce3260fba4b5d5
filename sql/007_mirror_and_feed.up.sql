-- Issue #12: what the ledger says happened on every card we know, and the feed of balance
-- changes for the retailer's other systems.

-- The mirror: every ledger transaction seen on a known card, ours or not. Re-reading a card
-- adds only entries it has not seen (the primary key), so any number of signals may point at it.
CREATE TABLE ledger_entries (
    ledger_card_id  text        NOT NULL,
    entry_id        text        NOT NULL,
    amount          numeric     NOT NULL,   -- signed: what the entry did to the balance
    currency        text        NOT NULL,
    balance_after   numeric,                -- as the ledger says it, or as our reads show it
    occurred_at     timestamptz NOT NULL,
    origin          text        NOT NULL CHECK (origin IN ('ours', 'foreign')),
    cause           text        NOT NULL,
    write_id        text,                   -- ours: the write it performed
    operation       text,                   -- ours: the NewStore operation (issue, authorize, ...)
    detail          text,                   -- the vendor's type or order reference; never a code
    seen_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ledger_card_id, entry_id)
);
CREATE INDEX ledger_entries_write ON ledger_entries (write_id) WHERE write_id IS NOT NULL;
CREATE INDEX ledger_entries_occurred ON ledger_entries (occurred_at);

-- How far each known card has been read: the newest entry mirrored, and the card as last seen.
CREATE TABLE card_sync (
    ledger_card_id  text PRIMARY KEY,
    last_entry_id   text,
    balance         numeric,
    currency        text,
    enabled         boolean,
    last_characters text,
    synced_at       timestamptz NOT NULL DEFAULT now()
);

-- The feed. event_id is the pull API's cursor: events are appended under one advisory lock
-- (store.feed.append), so ids are visible in the order they were committed and a reader never
-- sees event N+1 before N, whatever replica answers.
CREATE TABLE feed_events (
    event_id        bigint PRIMARY KEY,
    event_uuid      uuid        NOT NULL UNIQUE,
    ledger_card_id  text        NOT NULL,
    last_characters text,
    kind            text        NOT NULL CHECK (kind IN ('issued', 'activated', 'debited', 'credited', 'deactivated')),
    cause           text        NOT NULL CHECK (cause IN ('pos_sale', 'pos_redemption', 'pos_refund', 'online_checkout',
                                                          'order_refund', 'admin_adjustment', 'other_app', 'reversal')),
    amount          numeric,
    balance_after   numeric,
    currency        text,
    occurred_at     timestamptz NOT NULL,
    operation       text,                   -- the NewStore operation it came from, if ours
    order_ref       text,                   -- the order it came from, if the ledger says
    entry_id        text,                   -- the mirror row it was made from
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feed_events_card ON feed_events (ledger_card_id, event_id);

-- One row per (subscriber, event) still to deliver or given up on; delivered rows are deleted
-- (the event itself stays for the pull API).
CREATE TABLE feed_deliveries (
    subscriber      text        NOT NULL,
    event_id        bigint      NOT NULL REFERENCES feed_events (event_id),
    ledger_card_id  text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    PRIMARY KEY (subscriber, event_id)
);
CREATE INDEX feed_deliveries_due ON feed_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX feed_deliveries_card ON feed_deliveries (subscriber, ledger_card_id, event_id);

-- Who polls: one replica at a time holds the lease; the watermark survives restarts.
CREATE TABLE poller_state (
    ledger          text PRIMARY KEY,
    holder          text,
    lease_until     timestamptz,
    watermark       text,                   -- the ledger's own position (a time, an id), opaque here
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Signals received (webhooks), by the sender's event id: a resend changes nothing.
CREATE TABLE webhook_receipts (
    source          text        NOT NULL,
    event_id        text        NOT NULL,
    topic           text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, event_id)
);

ALTER TABLE balance_repairs ADD COLUMN entry_id text;

-- Reconciliation reads the journal by time (the poller's leader does, every pass).
CREATE INDEX audit_log_created ON audit_log (created_at);
