"""Automatic training's data check, pure: "Automatic training occurs only if you imported bulk or real-time
interaction data since the last training" (L10003).

Every ACTIVE solution version records what it trained on (``_trainedOn``: per dataset type, the topic and the
end offset of each partition its snapshot covered). An automatic (AUTOTRAIN) version is trained only when the
Interactions dataset's topic now ends beyond what the solution's last trained version read — or is another
topic (a new incarnation of the dataset, ADR 0012) — or nothing is known about the last training.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The private solution-version member holding the snapshot a version trained on.
TRAINED_ON = "_trainedOn"
INTERACTIONS = "Interactions"


def last_trained_on(versions: Iterable[Mapping[str, Any]], current_arn: str) -> Mapping[str, Any] | None:
    """``_trainedOn`` of the newest ACTIVE version (bodies of one solution's versions) other than
    ``current_arn``; None when there is none or it recorded nothing."""
    trained = [v for v in versions if v.get("solutionVersionArn") != current_arn and v.get("status") == "ACTIVE"]
    if not trained:
        return None
    newest = max(trained, key=lambda v: float(v.get("creationDateTime") or 0.0))
    found = newest.get(TRAINED_ON)
    return found if isinstance(found, Mapping) else None


def has_new_interactions(trained_on: Mapping[str, Any] | None, topic: str, end_offsets: Mapping[int, int]) -> bool:
    """Whether the Interactions topic ``topic``, now ending at ``end_offsets`` (partition -> end offset,
    exclusive), holds records the last training (``trained_on``) did not read. Anything unknown or malformed
    counts as new data: a doubtful check must never skip a training."""
    return has_new_records(trained_on, INTERACTIONS, topic, end_offsets)


def has_new_records(
    trained_on: Mapping[str, Any] | None, dataset_type: str, topic: str, end_offsets: Mapping[int, int]
) -> bool:
    """``has_new_interactions`` for any dataset type's topic (automatic updates look at Items too, L5389)."""
    if not isinstance(trained_on, Mapping):
        return True
    seen = trained_on.get(dataset_type)
    if not isinstance(seen, Mapping) or seen.get("topic") != topic:
        return True
    offsets = seen.get("offsets")
    if not isinstance(offsets, Mapping):
        return True
    try:
        read = {int(p): int(o) for p, o in offsets.items()}
    except (TypeError, ValueError):
        return True
    return any(int(end) > read.get(int(partition), 0) for partition, end in end_offsets.items())
