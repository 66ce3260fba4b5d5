"""What the three ledgers share beneath the port: the REST transport, the marker, and the
exactly-once protocol for ledgers that can only set a balance."""
