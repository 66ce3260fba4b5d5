-- Capture, refund and revoke are idempotent per instrument: NewStore sends one account-level key
-- (reduction-cancel-<account_id>) to every instrument of an account. Their record key becomes
-- "<instrument_id>/<key>" (adapter/http/idempotent.scoped_key). Records made before this
-- migration are moved into their instrument's scope where it is known (the write's or the
-- audit row's instrument), so a retry of an old key still finds its answer. A record whose
-- instrument is known nowhere holds a decline that moved nothing: its retry is decided anew.
UPDATE idempotency_keys k
   SET key = w.instrument_id::text || '/' || k.key
  FROM ledger_writes w
 WHERE w.idempotency_id = k.id AND w.instrument_id IS NOT NULL
   AND k.operation IN ('refund', 'revoke');

UPDATE idempotency_keys k
   SET key = a.instrument_id::text || '/' || k.key
  FROM audit_log a
 WHERE a.idempotency_key_id = k.id AND a.instrument_id IS NOT NULL
   AND k.operation = 'capture';

-- An activation retried under a fresh key looks for our own earlier activation of the card.
CREATE INDEX ledger_writes_activations ON ledger_writes (code_digest) WHERE operation = 'activate';
