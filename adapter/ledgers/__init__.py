"""Clients of the ledgers that only set balances (SHOPLINE, Gift Card Hero): their shared REST
transport (rest.py) and its metrics (metrics.py)."""
