DROP TABLE audit_log;
DROP TABLE ledger_writes;
DROP TABLE cards;
DROP TABLE idempotency_keys;
