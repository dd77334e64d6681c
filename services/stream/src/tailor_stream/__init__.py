"""Tailor stream service."""
