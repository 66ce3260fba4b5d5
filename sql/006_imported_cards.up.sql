-- Cards registered by `giftcard-adapter cards import` from a vendor's export (ledgers.md §3
-- Decision 3: a ledger that cannot find a card by its code knows only the cards in our registry).
-- cards.origin gains 'imported'. The check is replaced, under a name of its own, NOT VALID: it
-- only widens (every existing row satisfies it), so no scan under the exclusive lock; new and
-- updated rows are checked as before.
ALTER TABLE cards
    DROP CONSTRAINT cards_origin_check,
    ADD CONSTRAINT cards_origin_known CHECK (origin IN ('issue', 'activate', 'discovered', 'imported')) NOT VALID;
