-- Shopify's cost bucket as every replica's reservations left it (issue #14): one row per shop.
-- `level` is the points left at `as_of` after every reservation made (negative while callers
-- queue), refilled at `restore_rate` up to `maximum`, and never above Shopify's latest figure.
-- UNLOGGED: the row is a model re-learned from the next answer, so its changes write no WAL and
-- commit without waiting for a flush (a crash empties it; a standby has none).
CREATE UNLOGGED TABLE shared_buckets (
    shop          text PRIMARY KEY,
    level         double precision NOT NULL,
    maximum       double precision NOT NULL CHECK (maximum > 0),
    restore_rate  double precision NOT NULL CHECK (restore_rate > 0),
    as_of         timestamptz NOT NULL
);
