DROP INDEX audit_log_created;
ALTER TABLE balance_repairs DROP COLUMN entry_id;
DROP TABLE webhook_receipts;
DROP TABLE poller_state;
DROP TABLE feed_deliveries;
DROP TABLE feed_events;
DROP TABLE card_sync;
DROP TABLE ledger_entries;
