"""SHOPLINE's gift-card REST Admin API as an AbsoluteLedger: client.py, its answers (mapping.py)
and its errors (errors.py)."""
