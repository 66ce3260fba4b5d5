"""The balance-change feed's delivery side (issue #12): subscribers from configuration, the
event's one JSON shape, the signature, the delivery worker and the operator's commands.

The events themselves are written by adapter.store.feed.append, in the transaction of the mirror
rows they describe; this package only reads and delivers them."""
