ALTER TABLE ledger_writes DROP COLUMN instrument_id;
DROP TABLE instruments;
