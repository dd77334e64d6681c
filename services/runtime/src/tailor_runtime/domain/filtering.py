"""Moved to ``tailor_shared.scoring.filtering`` (ADR 0016): the runtime and the batch worker share it."""

from tailor_shared.scoring.filtering import *  # noqa: F403
