"""What training reads: anonymous sessions as sessions, excluded dataset columns left out."""

from __future__ import annotations

import numpy as np

from tailor_shared.dataset_reader import META_SESSION_ID, DatasetSnapshot
from tailor_trainer.domain import Interactions, ItemsTable
from tailor_trainer.domain.data import prepare, without_excluded_columns
from tailor_trainer.jobs import _interactions

Data = tuple[Interactions, ItemsTable]


def _anonymous(data: Data) -> Interactions:
    """The fixture with users u0 and u1 made anonymous: their events carry sessionIds s-a / s-b and USER_ID ""."""
    inter, _ = data
    users = np.asarray(inter.user_id, dtype=object).copy()
    sessions = np.full(len(users), None, dtype=object)
    for user, session in (("u0", "s-a"), ("u1", "s-b")):
        sessions[users == user] = session
        users[users == user] = ""
    return Interactions(users, inter.item_id, inter.timestamp, inter.event_type, inter.event_value, session_id=sessions)


def test_anonymous_events_train_as_their_sessions(small_synthetic_data: Data) -> None:
    inter, items = small_synthetic_data
    anonymous = _anonymous(small_synthetic_data)
    data = prepare(anonymous, items, {})
    ids = data.user_ids.tolist()
    assert "" not in ids and {"s-a", "s-b"} <= set(ids) and not {"u0", "u1"} & set(ids)
    known = prepare(inter, items, {})
    for user, session in (("u0", "s-a"), ("u1", "s-b")):
        before = known.sequences()[known.user_ids.tolist().index(user)]
        after = data.sequences()[ids.index(session)]
        # The session's history is the user's events (same-second ties are ordered by a hash of the id).
        assert sorted(before.tolist()) == sorted(after.tolist())
    pooled = prepare(Interactions(anonymous.user_id, inter.item_id, inter.timestamp), items, {})
    assert "" in pooled.user_ids.tolist()  # without sessionIds (a bulk import) nothing can be split


def test_the_job_reads_session_ids_from_the_snapshot() -> None:
    columns = {
        "USER_ID": np.asarray(["", "u1", ""], dtype=object),
        "ITEM_ID": np.asarray(["i1", "i2", "i3"], dtype=object),
        "TIMESTAMP": np.asarray([1, 2, 3]),
        META_SESSION_ID: np.asarray(["s-a", "s-1", "s-b"], dtype=object),
    }
    interactions = _interactions(DatasetSnapshot("t", columns, {0: 3}, (), 3, 0.0))
    assert interactions.session_id is not None and interactions.session_id.tolist() == ["s-a", "s-1", "s-b"]


def test_excluded_dataset_columns_are_not_trained_on(small_synthetic_data: Data) -> None:
    inter, items = small_synthetic_data
    config = {"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["price"], "INTERACTIONS": ["DEVICE"]}}}
    full = prepare(inter, items, {})
    assert full.features is not None and full.features.numeric_names == ("PRICE",)
    excluded = prepare(inter, items, config)
    assert excluded.features is not None and excluded.features.numeric_names == ()
    assert excluded.features.n_tokens == full.features.n_tokens  # GENRES stays
    device = np.asarray(["phone", "tv"] * (len(inter) // 2) + ["phone"] * (len(inter) % 2), dtype=object)
    with_context = Interactions(
        inter.user_id, inter.item_id, inter.timestamp, context={"DEVICE": device, "LOCATION": device}
    )
    assert set(without_excluded_columns(with_context, config).context) == {"LOCATION"}
    assert set(without_excluded_columns(with_context, {}).context) == {"DEVICE", "LOCATION"}
