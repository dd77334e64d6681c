"""Moved to ``tailor_shared.scoring.ranking`` (ADR 0016): the runtime and the batch worker share it."""

from tailor_shared.scoring.ranking import *  # noqa: F403
