"""Moved to ``tailor_shared.scoring.model`` (ADR 0016): the runtime and the batch worker share it."""

from tailor_shared.scoring.model import *  # noqa: F403
