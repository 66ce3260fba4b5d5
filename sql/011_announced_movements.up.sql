-- What a webhook said of a card's movements, kept until a re-read finds the entry it explains
-- (issue #12). Shopify's gift-card transactions say nothing of what made them; an order's
-- webhook gives each gift-card payment's card and size. A re-read files a foreign entry under
-- an order only if such an announcement of its size is open, so an admin's adjustment re-read
-- alongside is not filed under the order, and two orders' webhooks delivered out of order each
-- explain their own entry. No card code here: ledger ids only.
CREATE TABLE announced_movements (
    announcement_id bigserial   PRIMARY KEY,
    ledger_card_id  text        NOT NULL,
    amount          numeric     NOT NULL CHECK (amount <> 0), -- signed, major units: a debit is negative
    cause           text        NOT NULL,
    order_ref       text,
    source          text        NOT NULL,                      -- its webhook_receipts row
    event_id        text        NOT NULL,
    announced_at    timestamptz NOT NULL DEFAULT now(),
    entry_id        text                                       -- the entry it explained, once found
);
CREATE INDEX announced_movements_open ON announced_movements (ledger_card_id, announcement_id)
    WHERE entry_id IS NULL;
