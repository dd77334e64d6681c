"""A synthetic catalogue and users with real structure, for the demo and tests (MovieLens can't ship).

Items belong to categories and have latent vectors; users have latent tastes concentrated on a few
categories; item popularity is Zipf-skewed; users act in sessions whose consecutive items are related
(the next item is drawn near the previous one), with event types that form a funnel (view > click >
purchase). Everything is deterministic for a seed. Pure: it returns rows; callers write files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tailor_shared.schemas import avro_record

CATEGORIES = ("books", "music", "movies", "games", "outdoor", "kitchen", "toys", "fashion", "garden", "tech")
EVENT_TYPES = ("view", "click", "purchase")

ITEMS_SCHEMA = avro_record(
    "Items",
    "ITEM_ID",
    {"name": "CATEGORY", "type": "string", "categorical": True},
    {"name": "PRICE", "type": "float"},
    {"name": "CREATION_TIMESTAMP", "type": "long"},
)
USERS_SCHEMA = avro_record("Users", "USER_ID", {"name": "SEGMENT", "type": "string", "categorical": True})
INTERACTIONS_SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")


@dataclass(frozen=True)
class SyntheticData:
    items: list[dict[str, object]]  # ITEM_ID, CATEGORY, PRICE, CREATION_TIMESTAMP
    users: list[dict[str, object]]  # USER_ID, SEGMENT
    interactions: list[dict[str, object]]  # USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP (time-ordered per user)
    item_category: dict[str, str]
    user_favourites: dict[str, tuple[str, ...]]  # the categories a user mostly acts in


def generate(
    n_users: int = 300,
    n_items: int = 500,
    sessions_per_user: tuple[int, int] = (2, 6),
    session_length: tuple[int, int] = (3, 10),
    dim: int = 8,
    seed: int = 7,
    start_ts: int = 1_700_000_000,
) -> SyntheticData:
    rng = np.random.default_rng(seed)
    cat_of_item = rng.integers(0, len(CATEGORIES), n_items)
    centres = rng.normal(0, 1, (len(CATEGORIES), dim))
    item_vecs = centres[cat_of_item] + rng.normal(0, 0.45, (n_items, dim))
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    rng.shuffle(popularity)
    log_pop = np.log(popularity)
    items = [
        {
            "ITEM_ID": f"item-{i:05d}",
            "CATEGORY": CATEGORIES[cat_of_item[i]],
            "PRICE": round(float(rng.uniform(2, 200)), 2),
            "CREATION_TIMESTAMP": int(start_ts - rng.integers(0, 365 * 86400)),
        }
        for i in range(n_items)
    ]
    users: list[dict[str, object]] = []
    interactions: list[dict[str, object]] = []
    favourites: dict[str, tuple[str, ...]] = {}
    for u in range(n_users):
        user_id = f"user-{u:05d}"
        favs = rng.choice(len(CATEGORIES), size=int(rng.integers(1, 4)), replace=False)
        taste = centres[favs].mean(axis=0) + rng.normal(0, 0.3, dim)
        favourites[user_id] = tuple(CATEGORIES[f] for f in favs)
        users.append({"USER_ID": user_id, "SEGMENT": "premium" if rng.random() < 0.2 else "standard"})
        ts = start_ts + int(rng.integers(0, 30 * 86400))
        for _ in range(int(rng.integers(sessions_per_user[0], sessions_per_user[1] + 1))):
            prev: int | None = None
            for _ in range(int(rng.integers(session_length[0], session_length[1] + 1))):
                anchor = taste if prev is None else 0.5 * taste + 0.5 * item_vecs[prev]
                logits = item_vecs @ anchor * 1.5 + log_pop
                p = np.exp(logits - logits.max())
                item = int(rng.choice(n_items, p=p / p.sum()))
                ts += int(rng.integers(20, 600))
                r = rng.random()
                event = "purchase" if r < 0.08 else "click" if r < 0.4 else "view"
                interactions.append(
                    {"USER_ID": user_id, "ITEM_ID": f"item-{item:05d}", "EVENT_TYPE": event, "TIMESTAMP": ts}
                )
                prev = item
            ts += int(rng.integers(3600, 5 * 86400))
    return SyntheticData(
        items,
        users,
        interactions,
        {str(it["ITEM_ID"]): str(it["CATEGORY"]) for it in items},
        favourites,
    )


def to_csv(rows: Sequence[dict[str, object]]) -> str:
    """Personalize's bulk CSV: an unquoted header row of schema field names, one record per line."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
