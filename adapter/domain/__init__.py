"""Pure domain values: money, card codes and the errors use cases raise."""
