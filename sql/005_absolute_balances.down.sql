DROP TABLE ledger_reviews;
DROP TABLE balance_repairs;
DROP INDEX ledger_writes_card_unsettled;
DROP INDEX ledger_writes_verify_pending;
ALTER TABLE ledger_writes DROP COLUMN verify_state, DROP COLUMN history_mark,
    DROP COLUMN balance_target, DROP COLUMN balance_read;
