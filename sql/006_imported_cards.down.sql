-- Imported cards stay registered (removing them would make them unknown to this adapter again):
-- they become 'discovered', the nearest origin an older version knows (a card made elsewhere).
UPDATE cards SET origin = 'discovered' WHERE origin = 'imported';
ALTER TABLE cards
    DROP CONSTRAINT cards_origin_known,
    ADD CONSTRAINT cards_origin_check CHECK (origin IN ('issue', 'activate', 'discovered'));
