"""Test helpers that need a service's internals (so they cannot live in ``tailor_tools``)."""
