"""Tailor control service."""
