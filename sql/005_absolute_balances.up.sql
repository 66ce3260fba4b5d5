-- Ledgers that can only set a balance (SHOPLINE, Gift Card Hero): ledgers.md §3.2.
-- Each write's intent gains the balance read under the card lock (B), the balance its PUT sets
-- (T) and the card's newest history entry when B was read (the mark): together they let a
-- settler tell "applied", "not applied" and "ambiguous" apart from the ledger's history.
ALTER TABLE ledger_writes
    ADD COLUMN balance_read   numeric,
    ADD COLUMN balance_target numeric,
    ADD COLUMN history_mark   text,
    -- NULL: not an absolute-balance write; then 'pending' (PUT answered, foreign changes not
    -- yet checked), 'verified', or 'review' (an operator decides; never resent blindly).
    ADD COLUMN verify_state   text CHECK (verify_state IN ('pending', 'verified', 'review'));
CREATE INDEX ledger_writes_verify_pending ON ledger_writes (updated_at) WHERE verify_state = 'pending';
-- A card with one of our PUTs unsettled takes no other write of ours (its late arrival would
-- overwrite that write): looked up under the card lock before every PUT.
CREATE INDEX ledger_writes_card_unsettled ON ledger_writes (shopify_card_id)
    WHERE balance_read IS NOT NULL AND verify_state IS NULL AND state IN ('pending', 'unknown');

-- Corrections of foreign changes (a web-shop checkout, an admin edit) that one of our PUTs
-- overwrote: each is a PUT of its own, made under the same card lock.
CREATE TABLE balance_repairs (
    repair_id       bigserial PRIMARY KEY,
    write_id        text        NOT NULL REFERENCES ledger_writes (write_id),
    ledger_card_id  text        NOT NULL,
    amount          numeric     NOT NULL,        -- the foreign change restored (signed)
    currency        text        NOT NULL,
    balance_read    numeric     NOT NULL,
    balance_target  numeric     NOT NULL,
    history_mark    text,
    state           text        NOT NULL DEFAULT 'sending' CHECK (state IN ('sending', 'applied', 'review')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    settled_at      timestamptz
);
CREATE INDEX balance_repairs_write ON balance_repairs (write_id);

-- What an operator must look at: a write or repair whose outcome the ledger cannot prove.
CREATE TABLE ledger_reviews (
    review_id       bigserial PRIMARY KEY,
    write_id        text REFERENCES ledger_writes (write_id),
    ledger_card_id  text        NOT NULL,
    reason          text        NOT NULL,
    detail          jsonb       NOT NULL DEFAULT '{}',   -- amounts and entry ids, never a code
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolution      text
);
CREATE INDEX ledger_reviews_open ON ledger_reviews (created_at) WHERE resolved_at IS NULL;
