DROP INDEX ledger_writes_card_in_flight;
CREATE INDEX ledger_writes_card_in_flight ON ledger_writes (shopify_card_id)
    WHERE state IN ('pending', 'unknown') OR verify_state = 'pending';
UPDATE balance_repairs SET state = 'review' WHERE state = 'absent';
ALTER TABLE balance_repairs
    DROP CONSTRAINT balance_repairs_state_check,
    ADD CONSTRAINT balance_repairs_state_check CHECK (state IN ('sending', 'applied', 'review'));
DROP INDEX ledger_writes_verify_pending;
CREATE INDEX ledger_writes_verify_pending ON ledger_writes (updated_at) WHERE verify_state = 'pending';
UPDATE ledger_writes SET verify_state = 'pending' WHERE verify_state = 'repairing';
ALTER TABLE ledger_writes
    DROP COLUMN unrepaired,
    DROP CONSTRAINT ledger_writes_verify_state_check,
    ADD CONSTRAINT ledger_writes_verify_state_check CHECK (verify_state IN ('pending', 'verified', 'review'));
