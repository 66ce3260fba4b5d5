-- The poller's change list (issue #12): a card the ledger lists as changed since the watermark is
-- due before the rest of the round. poller_state.watermark now holds the ledger's own watermark
-- (an updated_at, or SHOPLINE's last card id), not the time of the last pass.
ALTER TABLE card_sync ADD COLUMN changed_at timestamptz;
UPDATE poller_state SET watermark = NULL;
