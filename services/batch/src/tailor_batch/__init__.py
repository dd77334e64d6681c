"""Tailor batch: batch inference and batch segment jobs in their own processes (ADR 0016)."""
