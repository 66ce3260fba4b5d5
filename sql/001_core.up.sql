-- Idempotency records, the card-code registry, ledger-write intents and the audit trail.
-- Card codes never appear in plaintext: code_digest is an HMAC, code_encrypted AES-GCM.

CREATE TABLE idempotency_keys (
    id                 bigserial PRIMARY KEY,
    operation          text        NOT NULL,
    key                text        NOT NULL CHECK (length(key) BETWEEN 1 AND 300),
    fingerprint        bytea       NOT NULL,
    state              text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'final')),
    -- The lease: who works on the key and until when. An expired lease may be taken over.
    locked_by          text,
    locked_until       timestamptz,
    response_status    smallint,
    response_body      bytea,
    response_encrypted boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    UNIQUE (operation, key),
    CHECK ((state = 'final') = (response_status IS NOT NULL AND response_body IS NOT NULL))
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_open ON idempotency_keys (locked_until) WHERE state = 'open';

CREATE TABLE cards (
    code_digest     bytea PRIMARY KEY,
    shopify_id      text        NOT NULL,
    last_characters text        NOT NULL,
    currency        text,
    origin          text        NOT NULL CHECK (origin IN ('issue', 'activate', 'discovered')),
    customer_id     text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_shopify_id ON cards (shopify_id);

-- One row per ledger write we intend to make, stored before the call. write_id is the
-- marker in the Shopify note (gca:v1:<operation>:<write_id>) that lets us find the write again.
CREATE TABLE ledger_writes (
    write_id              text PRIMARY KEY CHECK (write_id ~ '^[0-9a-f]{32}$'),
    idempotency_id        bigint REFERENCES idempotency_keys (id) ON DELETE SET NULL,
    operation             text        NOT NULL,
    state                 text        NOT NULL DEFAULT 'pending'
                          CHECK (state IN ('pending', 'unknown', 'applied', 'declined', 'abandoned')),
    code_digest           bytea,
    code_encrypted        bytea,      -- only while the write may still need settling
    shopify_card_id       text,
    amount                numeric,
    currency              text,
    ledger_transaction_id text,
    processed_at          timestamptz,
    -- What a settler needs to finish the request without its body: metadata (never the card
    -- number), correlation and customer ids, the card's last four.
    context               jsonb       NOT NULL DEFAULT '{}',
    attempts              integer     NOT NULL DEFAULT 0,
    first_sent_at         timestamptz,
    last_sent_at          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_writes_idempotency ON ledger_writes (idempotency_id);
CREATE INDEX ledger_writes_unsettled ON ledger_writes (created_at) WHERE state IN ('pending', 'unknown');

-- Every money or card movement the ledger confirmed. Kept when idempotency records expire.
CREATE TABLE audit_log (
    id                    bigserial PRIMARY KEY,
    operation             text        NOT NULL,
    write_id              text,
    instrument_id         uuid,
    shopify_card_id       text,
    last_characters       text,
    amount                numeric,
    currency              text,
    ledger_transaction_id text,
    idempotency_key_id    bigint,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_instrument ON audit_log (instrument_id) WHERE instrument_id IS NOT NULL;
