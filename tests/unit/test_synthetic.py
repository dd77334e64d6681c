"""The synthetic data has the structure the demo relies on: category tastes, popularity skew, funnels."""

from __future__ import annotations

from collections import Counter

from tailor_tools.synthetic import generate, to_csv


def test_deterministic_and_structured() -> None:
    a, b = generate(n_users=80, n_items=200, seed=3), generate(n_users=80, n_items=200, seed=3)
    assert a.interactions == b.interactions
    assert len(a.items) == 200 and len(a.users) == 80
    # Users act mostly in their favourite categories.
    in_fav = sum(a.item_category[str(r["ITEM_ID"])] in a.user_favourites[str(r["USER_ID"])] for r in a.interactions)
    assert in_fav / len(a.interactions) > 0.6
    # Popularity is skewed: the top 10 % of items take far more than 10 % of interactions.
    counts = sorted(Counter(str(r["ITEM_ID"]) for r in a.interactions).values(), reverse=True)
    assert sum(counts[:20]) / sum(counts) > 0.25
    # A funnel of event types, and per-user time order.
    types = Counter(str(r["EVENT_TYPE"]) for r in a.interactions)
    assert types["view"] > types["click"] > types["purchase"] > 0
    last: dict[str, int] = {}
    for r in a.interactions:
        assert int(str(r["TIMESTAMP"])) >= last.get(str(r["USER_ID"]), 0)
        last[str(r["USER_ID"])] = int(str(r["TIMESTAMP"]))


def test_csv_has_personalize_header() -> None:
    data = generate(n_users=5, n_items=20, seed=1)
    text = to_csv(data.interactions)
    assert text.splitlines()[0] == "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP"
    assert len(text.splitlines()) == len(data.interactions) + 1
