-- Correcting PUTs settled like any write (issue #11): a correction whose outcome is unknown is
-- no longer sent to review at once. It stays 'sending', its write 'repairing', and the sweep
-- tells from the card's history whether it landed ('applied') or not ('absent'), then goes on
-- restoring what is still missing (ledger_writes.unrepaired). A process that dies between
-- rounds leaves the write 'repairing' too, so nothing overwritten is forgotten.
ALTER TABLE ledger_writes
    DROP CONSTRAINT ledger_writes_verify_state_check,
    ADD CONSTRAINT ledger_writes_verify_state_check
        CHECK (verify_state IN ('pending', 'repairing', 'verified', 'review')),
    ADD COLUMN unrepaired numeric;  -- the foreign change our PUT overwrote, not yet restored (signed)
DROP INDEX ledger_writes_verify_pending;
CREATE INDEX ledger_writes_verify_pending ON ledger_writes (updated_at) WHERE verify_state IN ('pending', 'repairing');

ALTER TABLE balance_repairs
    DROP CONSTRAINT balance_repairs_state_check,
    ADD CONSTRAINT balance_repairs_state_check CHECK (state IN ('sending', 'applied', 'absent', 'review'));
-- The re-read guard (store.intake.write_in_flight) waits for a write that is still repairing.
DROP INDEX ledger_writes_card_in_flight;
CREATE INDEX ledger_writes_card_in_flight ON ledger_writes (shopify_card_id)
    WHERE state IN ('pending', 'unknown') OR verify_state IN ('pending', 'repairing');
