-- Issue #14, cost as the data grows: a re-read of a card (services.sync.resync) read all of its
-- applied writes, its repairs and its mirrored writes to tell its new entries apart; a card with
-- thousands of payments made every re-read (one follows each write) read and decoded thousands of
-- rows. It now asks only for the writes its entries can name (store.mirror.our_writes): by write
-- id (the primary key), by the ledger transaction they made, and the card's creation and
-- deactivation. These two indexes find the last two without walking the card's history; the
-- first replaces 012's index on the card alone, which it serves as well.
DROP INDEX ledger_writes_card;
CREATE INDEX ledger_writes_card ON ledger_writes (shopify_card_id, ledger_transaction_id);
CREATE INDEX ledger_writes_card_lifecycle ON ledger_writes (shopify_card_id)
    WHERE operation IN ('issue', 'activate', 'deactivate');
