ALTER TABLE card_sync DROP COLUMN changed_at;
