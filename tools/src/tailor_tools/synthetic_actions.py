"""Synthetic Next-Best-Action data with known propensities, on top of ``synthetic.generate``'s users and items.

Each action belongs to a category and may be for premium users. A user's true propensity to take an action
when shown it is ``sigmoid(base + 2.5 * [category is one of the user's favourites] + 1.5 * [premium action and
premium user])``: the favourites show in the user's item interactions and the segment in their Users row, so
a model can learn it, while each action's overall take rate (the popularity baseline) can't tell users apart.
Every user is shown a few actions over six weeks (VIEWED), then takes them (TAKEN) with their propensity or
declines (NOT_TAKEN). Deterministic for a seed; pure (rows only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tailor_shared.schemas import avro_record
from tailor_tools import synthetic

ACTIONS_SCHEMA = avro_record(
    "Actions",
    "ACTION_ID",
    {"name": "VALUE", "type": ["null", "long"]},
    {"name": "ACTION_EXPIRATION_TIMESTAMP", "type": ["null", "long"]},
    {"name": "REPEAT_FREQUENCY", "type": ["null", "long"]},
    {"name": "CATEGORY", "type": ["null", "string"], "categorical": True},
)
ACTION_INTERACTIONS_SCHEMA = avro_record("Action_Interactions", "USER_ID", "ACTION_ID", "EVENT_TYPE", "TIMESTAMP")
EXPIRED_AT = 1_600_000_000  # an expiration in the past
FAR_FUTURE = 4_000_000_000
WEEK_S = 7 * 86400


@dataclass(frozen=True)
class SyntheticActions:
    base: synthetic.SyntheticData
    actions: list[dict[str, object]]  # ACTION_ID, VALUE, ACTION_EXPIRATION_TIMESTAMP, REPEAT_FREQUENCY, CATEGORY
    action_interactions: list[dict[str, object]]  # USER_ID, ACTION_ID, EVENT_TYPE, TIMESTAMP (time order)
    premium: dict[str, bool]  # action id -> for premium users
    expired: str  # the action whose expiration is in the past
    unshown: str  # an action nobody interacted with (no score, L6756)

    def propensity(self, user_id: str, action_id: str) -> float:
        """The true probability that ``user_id`` takes ``action_id`` when shown it."""
        action = next(a for a in self.actions if a["ACTION_ID"] == action_id)
        favourite = str(action["CATEGORY"]) in self.base.user_favourites[user_id]
        segment = next(u["SEGMENT"] for u in self.base.users if u["USER_ID"] == user_id)
        logit = _base(action_id) + 2.5 * favourite + 1.5 * (self.premium[action_id] and segment == "premium")
        return 1.0 / (1.0 + math.exp(-logit))


def _base(action_id: str) -> float:
    return -1.5 + 0.15 * (int(action_id.rsplit("-", 1)[1]) % 5)


def generate(
    n_users: int = 600,
    n_items: int = 300,
    n_actions: int = 12,
    shown_per_user: tuple[int, int] = (6, 12),
    seed: int = 5,
    start_ts: int = 1_700_000_000,
) -> SyntheticActions:
    base = synthetic.generate(n_users=n_users, n_items=n_items, seed=seed, start_ts=start_ts)
    rng = np.random.default_rng(seed + 1)
    ids = [f"action-{a:03d}" for a in range(n_actions)]
    premium = {a: bool(i % 3 == 0) for i, a in enumerate(ids)}
    expired, unshown = ids[-2], ids[-1]
    actions: list[dict[str, object]] = [
        {
            "ACTION_ID": a,
            "VALUE": int(1 + (i * 7) % 10),
            "ACTION_EXPIRATION_TIMESTAMP": EXPIRED_AT if a == expired else FAR_FUTURE if i % 2 else None,
            "REPEAT_FREQUENCY": int(1 + i % 7) if i % 4 == 1 else None,
            "CATEGORY": synthetic.CATEGORIES[i % len(synthetic.CATEGORIES)],
        }
        for i, a in enumerate(ids)
    ]
    data = SyntheticActions(base, actions, [], premium, expired, unshown)
    shown_ids = [a for a in ids if a != unshown]
    rows: list[dict[str, object]] = []
    first = start_ts + 10 * 86400
    for user in base.users:
        u = str(user["USER_ID"])
        k = int(rng.integers(shown_per_user[0], shown_per_user[1] + 1))
        for a in rng.choice(shown_ids, size=k, replace=True):
            ts = first + int(rng.integers(0, 6 * WEEK_S - 3600))
            rows.append({"USER_ID": u, "ACTION_ID": str(a), "EVENT_TYPE": "VIEWED", "TIMESTAMP": ts})
            taken = rng.random() < data.propensity(u, str(a))
            if taken or rng.random() < 0.5:
                event = "TAKEN" if taken else "NOT_TAKEN"
                rows.append({"USER_ID": u, "ACTION_ID": str(a), "EVENT_TYPE": event, "TIMESTAMP": ts + 600})
    rows.sort(key=lambda r: (int(str(r["TIMESTAMP"])), str(r["USER_ID"])))
    return SyntheticActions(base, actions, rows, premium, expired, unshown)
