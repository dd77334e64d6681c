"""Test helpers and fixtures shared by several test folders: those that need a service's internals (so they
cannot live in ``tailor_tools``) and the control tests' dataset schemas."""
