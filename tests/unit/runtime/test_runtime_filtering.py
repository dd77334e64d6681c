"""The vectorised filter masks agree with the reference evaluator on every item, for the guide's kinds of
expressions over random catalogues, users and parameter values."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import MetadataValue, bind_filter_values, evaluate_for_item, parse_filter_expression
from tailor_shared.scoring.filtering import FilterInputs, ItemIndex, filter_mask

GENRES = ["comedy", "drama", "horror", "action", "kids"]
EXPRESSIONS = [
    ('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")', {}),
    ('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', {}),
    ("INCLUDE ItemID WHERE Items.GENRE IN ($GENRES)", {"GENRES": '"comedy","drama"'}),
    ("EXCLUDE ItemID WHERE Items.GENRE IN ($GENRES)", {}),  # omitted EXCLUDE value: part dropped
    ('INCLUDE ItemID WHERE Items.PRICE > 50 AND Items.GENRE NOT IN ("horror")', {}),
    ('INCLUDE ItemID WHERE Items.PRICE <= $MAX OR Items.GENRE = "kids"', {"MAX": "20"}),
    ("EXCLUDE ItemID WHERE Items.PRICE != 10", {}),
    (
        'INCLUDE ItemID WHERE Items.GENRE IN ("kids") IF CurrentUser.AGE < 13 | '
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
        {},
    ),
    ("INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)", {}),
    ("EXCLUDE ItemID WHERE Items.PRICE > CurrentItem.PRICE", {}),
    (
        'INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP >= $DATE | EXCLUDE ItemID WHERE Items.GENRE IN ("drama")',
        {"DATE": "1500"},
    ),
    # The benchmark's shape, event types in another case than the events', and several parts of each kind: the
    # window parts are applied as positions, the item-only parts as cached masks (ADR 0019 §9).
    (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("PURCHASE", "Click") | '
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRES)",
        {"GENRES": '"comedy","kids"'},
    ),
    (
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") | INCLUDE ItemID WHERE Items.PRICE < 20 | '
        'EXCLUDE ItemID WHERE Items.GENRE IN ("kids") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
        {},
    ),
    (
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("stream", "purchase") | '
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
        {},
    ),
    ('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")', {}),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("drama") | INCLUDE ItemID WHERE Items.GENRE IN ("kids")', {}),
]


def _catalogue(rng: random.Random, n: int = 60) -> tuple[list[str], dict[str, dict[str, MetadataValue]]]:
    items = [f"i{k}" for k in range(n)]
    meta: dict[str, dict[str, MetadataValue]] = {}
    for item in items:
        if rng.random() < 0.1:
            continue  # no metadata at all
        genres = rng.sample(GENRES, rng.randint(1, 2))
        record: dict[str, MetadataValue] = {"GENRE": "|".join(genres), "CREATION_TIMESTAMP": rng.randint(1000, 2000)}
        if rng.random() < 0.8:
            record["PRICE"] = rng.choice([5, 10, 20, 50.0, 75, 100])
        meta[item] = record
    return items, meta


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("expression", "values"), EXPRESSIONS)
def test_mask_equals_reference_evaluator(seed: int, expression: str, values: dict[str, str]) -> None:
    rng = random.Random(seed)
    items, meta = _catalogue(rng)
    index = ItemIndex(items, metadata=meta)
    history = {
        et: rng.sample(items, rng.randint(0, 15)) for et in ("click", "Purchase", "stream") if rng.random() < 0.8
    }
    user = {"AGE": rng.choice([9, 30])} if rng.random() < 0.8 else None
    current = meta.get(rng.choice(items)) or {"GENRE": "comedy", "PRICE": 20}
    bound = bind_filter_values(parse_filter_expression(expression), values)
    mask = filter_mask(bound, index, FilterInputs(user, history, current, window=10))
    expected = np.array(
        [
            evaluate_for_item(
                bound,
                item,
                meta.get(item),
                user_metadata=user,
                user_interactions=history,
                current_item_metadata=current,
                interactions_window=10,
            )
            for item in items
        ]
    )
    assert mask.dtype == bool and mask.shape == (len(items),)
    assert (mask == expected).all(), [items[i] for i in np.flatnonzero(mask != expected)]


def test_current_item_filter_needs_an_item() -> None:
    bound = bind_filter_values(parse_filter_expression("INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)"), {})
    with pytest.raises(InvalidInputException, match="CurrentItem"):
        filter_mask(bound, ItemIndex(["a"]), FilterInputs())


def test_action_filter_rejected_for_items() -> None:
    bound = bind_filter_values(parse_filter_expression("EXCLUDE ActionID WHERE Actions.VALUE > 5"), {})
    with pytest.raises(InvalidInputException, match="ActionID"):
        filter_mask(bound, ItemIndex(["a"]), FilterInputs())


@pytest.mark.parametrize(("expression", "values"), EXPRESSIONS)
def test_cached_item_masks_never_leak_edits(expression: str, values: dict[str, str]) -> None:
    """Item-only expressions are computed once per catalogue: the caller may edit its mask (the runtime drops
    seen items from it) without changing what the next request gets."""
    rng = random.Random(11)
    items, meta = _catalogue(rng)
    index = ItemIndex(items, metadata=meta)
    inputs = FilterInputs({"AGE": 9}, {"click": items[:5], "purchase": items[5:9]}, meta[items[1]] or {}, window=10)
    bound = bind_filter_values(parse_filter_expression(expression), values)
    first = filter_mask(bound, index, inputs)
    expected = first.copy()
    first[:] = ~first
    again = filter_mask(bound, index, inputs)
    assert again.flags.writeable
    assert (again == expected).all()


def test_item_only_filter_positions_are_cached_per_catalogue_and_equal_the_mask() -> None:
    """A promotion's item-only filter gives its items as positions, once per catalogue (ADR 0019 §9); a filter
    reading the user's interactions or an IF on the user has none (its items change per request)."""
    rng = random.Random(3)
    items, meta = _catalogue(rng, 200)
    index = ItemIndex(items, metadata=meta)
    item_only = bind_filter_values(
        parse_filter_expression("INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > $DATE"), {"DATE": "1500"}
    )
    positions = index.filter_positions(item_only)
    assert positions is not None and not positions.flags.writeable
    assert positions.tolist() == np.flatnonzero(filter_mask(item_only, index, FilterInputs())).tolist()
    assert 0 < positions.size < len(items)
    assert index.filter_positions(item_only) is positions  # cached
    assert ItemIndex(items, metadata=meta).filter_positions(item_only) is not positions  # per catalogue
    for text in (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
        'INCLUDE ItemID WHERE Items.GENRE IN ("kids") IF CurrentUser.AGE < 13',
        "INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)",
    ):
        assert index.filter_positions(bind_filter_values(parse_filter_expression(text), {})) is None
