-- Issue #12, intake: what the ledgers' webhooks asked to re-read, kept until it is done, and the
-- cards first met through them.

-- Work a webhook left behind. Its sender was answered 200 only once this row (and the webhook's
-- receipt) was committed; the re-reads happen after, drained by adapter.services.intake, so a
-- crash after the answer loses nothing. A row is deleted when its work is done (or given up).
CREATE TABLE intake_queue (
    item_id         bigserial PRIMARY KEY,
    source          text        NOT NULL,   -- whose webhook: shopify | shopline | gifthero
    event_id        text        NOT NULL,   -- its webhook_receipts row
    kind            text        NOT NULL CHECK (kind IN ('card', 'order', 'code', 'last_characters')),
    ledger_card_id  text,                   -- card: the ledger's id of the card to re-read
    order_id        text,                   -- order: the ledger's id of an order that sold cards
    expected_cards  integer,                -- order: how many cards it sold
    -- code: a full card code, as the registry keeps one (digest and ciphertext under the writing
    -- card-code key), never in plaintext; the row lives until the card is found.
    code_digest     bytea,
    code_key_id     bytea,
    code_encrypted  bytea,
    last_characters text,                   -- last_characters: what a masked code showed
    cause           text,                   -- what the signal says of the change, if anything
    order_ref       text,                   -- the order it came from, if the signal says
    register        boolean     NOT NULL DEFAULT false,  -- add the card to ledger_cards once re-read
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,            -- a replica is working on it until then
    last_error      text,                   -- never a code
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'card' OR ledger_card_id IS NOT NULL),
    CHECK (kind <> 'order' OR order_id IS NOT NULL),
    CHECK (kind <> 'code' OR (code_digest IS NOT NULL AND code_encrypted IS NOT NULL)),
    CHECK (kind <> 'last_characters' OR last_characters IS NOT NULL)
);
CREATE INDEX intake_queue_due ON intake_queue (next_attempt_at);

-- Cards known by their ledger id only: met through a webhook (a card sold at the web shop, a
-- card that paid for an order there), their code unknown until NewStore presents it (then the
-- code registry, `cards`, holds them too). The poller re-reads these as it does registered cards.
CREATE TABLE ledger_cards (
    ledger_card_id  text PRIMARY KEY,
    last_characters text        NOT NULL,
    met_through     text        NOT NULL,   -- the webhook's source and topic
    first_seen_at   timestamptz NOT NULL DEFAULT now()
);

-- A masked code shows the last characters: every known card with them is re-read.
CREATE INDEX cards_last_characters ON cards (last_characters);
CREATE INDEX ledger_cards_last_characters ON ledger_cards (last_characters);
CREATE INDEX card_sync_last_characters ON card_sync (last_characters);

-- A re-read on a ledger without notes waits while a write of ours to the card is in flight
-- (store.intake.write_in_flight): looked up per card before each re-read.
CREATE INDEX ledger_writes_card_in_flight ON ledger_writes (shopify_card_id)
    WHERE state IN ('pending', 'unknown') OR verify_state = 'pending';
CREATE INDEX balance_repairs_card_sending ON balance_repairs (ledger_card_id) WHERE state = 'sending';

-- Receipts are kept past every vendor's retries (48 h), then deleted by the intake worker.
CREATE INDEX webhook_receipts_received ON webhook_receipts (received_at);
