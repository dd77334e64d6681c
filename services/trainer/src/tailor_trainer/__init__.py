"""Tailor trainer service."""
