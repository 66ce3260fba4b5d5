-- Only for going back to a single key: ciphertexts already written in format version 2 are not
-- readable by a version of the adapter from before this migration.
ALTER TABLE instruments DROP COLUMN code_key_id;
ALTER TABLE ledger_writes DROP COLUMN code_key_id;
ALTER TABLE cards DROP COLUMN code_encrypted, DROP COLUMN code_key_id;
