-- Issue #14, cost as the data grows: every applied write starts a re-read of its card (the
-- feed's prompt re-read, services.sync.resync), which reads the card's applied writes
-- (store.mirror.our_writes) and its correcting PUTs (store.mirror.repair_entries). Only partial
-- indexes covered those tables by card (the writes in flight, the repairs still sending), so both
-- read their whole table: ledger_writes keeps a row for every write ever made.
-- (tests/integration/test_query_plans.py checks every hot-path statement's plan.)
CREATE INDEX ledger_writes_card ON ledger_writes (shopify_card_id);
CREATE INDEX balance_repairs_card ON balance_repairs (ledger_card_id);
