"""Logging and metrics. Every metric is defined once, in metrics.py."""
