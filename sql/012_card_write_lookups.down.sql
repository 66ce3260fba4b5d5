DROP INDEX balance_repairs_card;
DROP INDEX ledger_writes_card;
