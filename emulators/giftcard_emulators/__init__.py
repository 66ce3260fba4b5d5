"""Ledger emulators: independent models of each vendor's documented behaviour, served over HTTP.

A distribution of its own (`emulators/`), installed by `make` for tests and local runs and never
by the production image (Dockerfile), so neither the emulators nor their dependencies ship.
The Shopify sandbox (adapter/sandbox) moves here in a later step of issue #11.
"""
