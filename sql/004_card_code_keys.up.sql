-- Card-code key rotation (CARD_CODE_KEYS). Every stored digest gets the id of the key that made
-- it: 4 bytes derived from the key (adapter/crypto.py), not the key. NULL: written before this
-- migration, by the one CARD_CODE_KEY of the time, whose id was not recorded. Ciphertexts carry
-- their key id themselves (format version 2), so they need no column.
--
-- The registry also keeps the code, encrypted, so that `giftcard-adapter keys rotate` can
-- re-digest its rows under a new key; rows registered before this migration have none.
--
-- Nullable columns without a default and NOT VALID checks (every existing value is NULL): no
-- rewrite and no scan under the exclusive lock, while other replicas keep serving.

ALTER TABLE cards
    ADD COLUMN code_key_id bytea,
    ADD COLUMN code_encrypted bytea,
    ADD CONSTRAINT cards_code_key_id_length CHECK (octet_length(code_key_id) = 4) NOT VALID;
ALTER TABLE ledger_writes
    ADD COLUMN code_key_id bytea,
    ADD CONSTRAINT ledger_writes_code_key_id_length CHECK (octet_length(code_key_id) = 4) NOT VALID;
ALTER TABLE instruments
    ADD COLUMN code_key_id bytea,
    ADD CONSTRAINT instruments_code_key_id_length CHECK (octet_length(code_key_id) = 4) NOT VALID;
