-- Payment instruments for the gift_card tender: running totals that make over-capture and
-- over-refund impossible. Refund and revoke reserve their amount before the ledger call.

CREATE TABLE instruments (
    id               uuid PRIMARY KEY,
    code_digest      bytea       NOT NULL,
    shopify_card_id  text        NOT NULL,
    last_characters  text        NOT NULL,
    currency         text        NOT NULL,
    account_id       text,
    authorized       numeric     NOT NULL CHECK (authorized > 0),
    captured         numeric     NOT NULL DEFAULT 0 CHECK (captured >= 0),
    refunded         numeric     NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    revoked          numeric     NOT NULL DEFAULT 0 CHECK (revoked >= 0),
    refund_reserved  numeric     NOT NULL DEFAULT 0 CHECK (refund_reserved >= 0),
    revoke_reserved  numeric     NOT NULL DEFAULT 0 CHECK (revoke_reserved >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- The invariants of the spec (§3.3), with reservations counted as spent.
    CONSTRAINT capture_cap CHECK (captured + revoked + revoke_reserved <= authorized),
    CONSTRAINT refund_cap CHECK (refunded + refund_reserved <= captured)
);

ALTER TABLE ledger_writes ADD COLUMN instrument_id uuid;
CREATE INDEX ledger_writes_instrument ON ledger_writes (instrument_id) WHERE instrument_id IS NOT NULL;
