"""Tailor runtime service."""
