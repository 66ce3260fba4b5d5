DROP INDEX IF EXISTS ledger_writes_activations;

-- Back to bare keys where that leaves them unique (two instruments' records under one key can't
-- both go back: the newer stays scoped, and an old version would not find it).
UPDATE idempotency_keys k
   SET key = substr(k.key, 38)
 WHERE k.operation IN ('capture', 'refund', 'revoke')
   AND k.key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/'
   AND NOT EXISTS (SELECT 1 FROM idempotency_keys b WHERE b.operation = k.operation AND b.key = substr(k.key, 38))
   AND NOT EXISTS (SELECT 1 FROM idempotency_keys o
                    WHERE o.operation = k.operation AND o.id < k.id
                      AND substr(o.key, 38) = substr(k.key, 38)
                      AND o.key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/');
