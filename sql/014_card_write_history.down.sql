DROP INDEX ledger_writes_card_lifecycle;
DROP INDEX ledger_writes_card;
CREATE INDEX ledger_writes_card ON ledger_writes (shopify_card_id);
