DROP INDEX webhook_receipts_received;
DROP INDEX balance_repairs_card_sending;
DROP INDEX ledger_writes_card_in_flight;
DROP INDEX card_sync_last_characters;
DROP INDEX cards_last_characters;
DROP TABLE ledger_cards;
DROP TABLE intake_queue;
