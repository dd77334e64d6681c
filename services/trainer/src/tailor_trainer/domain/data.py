"""Training data: the columnar inputs, Personalize's pre-training filters and data rules, and indexing.

Everything here is pure: the job runner reads Kafka/files into ``Interactions`` / ``ItemsTable`` and calls
``prepare``; what comes back is integer-indexed, ordered per user, and ready for every recipe.

Ordering within a user is (timestamp, tie hash): MovieLens stores most of a user's ratings in the same
second, and ordering ties by item id or file order would leak the id order into the "newest 10 %" ground
truth (docs/adr/0006). The tie hash is a fixed function of (user id, item id), so it carries no information.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tailor_shared.errors import InvalidInputException

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

#: Data minimums for a solution version (L5407, L19681, L19696, L19697).
MIN_INTERACTIONS: Final = 1000
MIN_USERS_WITH_TWO: Final = 25
MIN_SHARE_USERS_WITH_TWO: Final = 0.01


class DataRuleViolation(InvalidInputException):
    """Training data breaks one of Personalize's minimums; ``failure_reason`` is the solution version's text."""

    def __init__(self, failure_reason: str) -> None:
        super().__init__(failure_reason)
        self.failure_reason = failure_reason


@dataclass(frozen=True)
class Interactions:
    """Item interactions, columnar (equal-length arrays) as the dataset reader provides them."""

    user_id: npt.NDArray[Any]
    item_id: npt.NDArray[Any]
    timestamp: npt.NDArray[Any]  # int64 epoch seconds
    event_type: npt.NDArray[Any] | None = None
    event_value: npt.NDArray[Any] | None = None
    # Contextual metadata: the Interactions dataset's other categorical columns (e.g. DEVICE), by field name.
    context: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    # PutEvents' sessionId per event (None for bulk imports): an anonymous event (USER_ID "") trains as its
    # session's history, under the sessionId as user id, as GetRecommendations then finds it (L14390).
    session_id: npt.NDArray[Any] | None = None
    # The items shown with each event (a sequence of item ids, empty when none): the explicit IMPRESSION, else
    # the list its recommendationId returned (L14081). User-Personalization(-v2) trains the shown items that
    # were not chosen as the event's negatives (ADR 0022).
    impression: npt.NDArray[Any] | None = None

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass(frozen=True)
class ItemsTable:
    """The Items dataset: ids, metadata columns (categorical ones may be '|'-joined multi-values)."""

    item_id: npt.NDArray[Any]
    columns: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    categorical: frozenset[str] = frozenset()
    creation_timestamp: npt.NDArray[Any] | None = None


@dataclass(frozen=True)
class UsersTable:
    """The Users dataset (accepted for interface completeness; no recipe here uses user metadata yet)."""

    user_id: npt.NDArray[Any]
    columns: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)
    categorical: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ItemFeatures:
    """Item metadata as model inputs: multi-hot categorical tokens (CSR) and standardised numeric columns."""

    token_names: tuple[str, ...]  # "COLUMN=value"
    token_ptr: IntArray  # [n_items + 1] offsets into token_idx
    token_idx: IntArray  # token index per (item, token) pair
    numeric_names: tuple[str, ...]
    numeric: FloatArray  # [n_items, n_numeric], standardised, NaN -> 0
    numeric_mean: FloatArray
    numeric_std: FloatArray

    @property
    def n_tokens(self) -> int:
        return len(self.token_names)

    @property
    def empty(self) -> bool:
        return self.n_tokens == 0 and not self.numeric_names


@dataclass(frozen=True)
class PreparedData:
    """Interactions indexed and sorted by (user, timestamp, tie hash); users' rows are contiguous (CSR)."""

    user_ids: npt.NDArray[Any]  # index -> external id
    item_ids: npt.NDArray[Any]  # index -> external id (interaction items and Items-dataset items)
    user: IntArray
    item: IntArray
    timestamp: IntArray
    user_ptr: IntArray  # [n_users + 1]
    item_creation: IntArray  # [n_items] seconds, per the guide's item-age rule (L4148)
    item_is_new: npt.NDArray[np.bool_]  # items with no interactions
    features: ItemFeatures | None
    filter_summary: Mapping[str, Any]
    # Per row (CSR): the items shown with the row's event and not chosen by it (``impression_negatives``).
    shown_ptr: IntArray | None = None  # [n_rows + 1]
    shown_item: IntArray | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def sequences(self) -> list[IntArray]:
        return [self.item[self.user_ptr[u] : self.user_ptr[u + 1]] for u in range(self.n_users)]

    def item_counts(self) -> IntArray:
        return np.bincount(self.item, minlength=self.n_items).astype(np.int64)

    def unique_user_counts(self) -> IntArray:
        """Popularity as Popularity-Count defines it: interactions from unique users (L6414)."""
        pairs = np.unique(self.user * np.int64(self.n_items) + self.item)
        return np.bincount(pairs % self.n_items, minlength=self.n_items).astype(np.int64)


def tie_hash(user_ids: npt.NDArray[Any], item_ids: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """A fixed 64-bit hash of (user id, item id): breaks timestamp ties without leaking id or file order."""
    out = np.empty(len(user_ids), dtype=np.uint64)
    for k, (u, i) in enumerate(zip(user_ids.tolist(), item_ids.tolist(), strict=True)):
        digest = hashlib.blake2b(f"{u}\x1f{i}".encode(), digest_size=8).digest()
        out[k] = int.from_bytes(digest, "little")
    return out


def _as_str(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.asarray([str(v) for v in values.tolist()], dtype=object)


def filter_interactions(interactions: Interactions, solution_config: Mapping[str, Any]) -> Interactions:
    """Keep the events CreateSolution asks for: ``eventType`` and ``eventValueThreshold`` (L10532).

    Without ``eventType`` every event counts with equal weight; the threshold keeps ``EVENT_VALUE >= threshold``.
    Exact duplicates (same user, item, timestamp, type and value) are kept once (L14516).
    """
    n = len(interactions)
    keep = np.ones(n, dtype=bool)
    event_type = solution_config.get("eventType")
    if event_type:
        if interactions.event_type is None:
            keep[:] = False
        else:
            keep &= _as_str(interactions.event_type) == str(event_type)
    threshold = solution_config.get("eventValueThreshold")
    if threshold not in (None, ""):
        if interactions.event_value is None:
            keep[:] = False
        else:
            values = np.asarray(interactions.event_value, dtype=np.float64)
            keep &= np.nan_to_num(values, nan=-np.inf) >= float(str(threshold))
    users = sessions_as_users(interactions.user_id, interactions.session_id)[keep]
    items = _as_str(np.asarray(interactions.item_id)[keep])
    ts = np.asarray(interactions.timestamp)[keep].astype(np.int64)
    et = None if interactions.event_type is None else _as_str(np.asarray(interactions.event_type)[keep])
    ev = None if interactions.event_value is None else np.asarray(interactions.event_value, dtype=np.float64)[keep]
    imp = None if interactions.impression is None else np.asarray(interactions.impression, dtype=object)[keep]
    key_parts: list[npt.NDArray[Any]] = [users, items, ts.astype(str).astype(object)]
    if et is not None:
        key_parts.append(et)
    if ev is not None:
        key_parts.append(ev.astype(str).astype(object))
    keys = key_parts[0]
    for part in key_parts[1:]:
        keys = keys + "\x1f" + part
    _, first = np.unique(keys.astype(str), return_index=True)
    first.sort()
    return Interactions(
        users[first],
        items[first],
        ts[first],
        None if et is None else et[first],
        None if ev is None else ev[first],
        impression=None if imp is None else imp[first],
    )


def _rows(interactions: Interactions, keep: npt.NDArray[np.bool_]) -> Interactions:
    """The interactions of the rows ``keep`` selects (every column)."""

    def cut(column: Any) -> Any:
        return None if column is None else np.asarray(column)[keep]

    return replace(
        interactions,
        user_id=cut(interactions.user_id),
        item_id=cut(interactions.item_id),
        timestamp=cut(interactions.timestamp),
        event_type=cut(interactions.event_type),
        event_value=cut(interactions.event_value),
        context={k: cut(v) for k, v in interactions.context.items()},
        session_id=cut(interactions.session_id),
        impression=cut(interactions.impression),
    )


def newest_items(candidates: list[str], limit: int, interactions: Interactions, items: ItemsTable | None) -> set[str]:
    """The ``limit`` items of ``candidates`` Personalize would keep above its item limit: "an emphasis on
    including new items (items you recently added with no interactions) and existing items with recent
    interactions data" (L4992). An item's recency is its latest interaction, else its CREATION_TIMESTAMP, else
    the latest interaction in the data (a new item without a creation time counts as just added); ties by id."""
    latest: dict[str, int] = {}
    for item, ts in zip(interactions.item_id.tolist(), np.asarray(interactions.timestamp).tolist(), strict=True):
        if ts > latest.get(item, -1):
            latest[item] = int(ts)
    newest = max(latest.values(), default=0)
    created: dict[str, int] = {}
    if items is not None and items.creation_timestamp is not None:
        for item, ct in zip(items.item_id.tolist(), np.asarray(items.creation_timestamp).tolist(), strict=True):
            if ct is not None and np.isfinite(float(ct)):
                created[str(item)] = int(ct)
    recency = {c: latest.get(c, created.get(c, newest)) for c in candidates}
    return set(sorted(candidates, key=lambda c: (-recency[c], c))[:limit])


def sessions_as_users(user_id: npt.NDArray[Any], session_id: npt.NDArray[Any] | None) -> npt.NDArray[Any]:
    """User ids as strings, each anonymous event's ("" user) replaced by its sessionId: sessions, not one pooled
    "" user, are what an anonymous visitor's history is (a sessionless anonymous event stays "")."""
    users = _as_str(np.asarray(user_id))
    if session_id is None:
        return users
    sessions = np.asarray(session_id, dtype=object)
    anonymous = (users == "") & np.asarray([bool(v) for v in sessions.tolist()], dtype=bool)
    users[anonymous] = _as_str(sessions[anonymous])
    return users


def excluded_columns(solution_config: Mapping[str, Any], dataset_type: str) -> frozenset[str]:
    """``trainingDataConfig.excludedDatasetColumns`` of one dataset type ("ITEMS", "USERS", "INTERACTIONS"),
    upper-cased: those columns are not used in training (L5999)."""
    tdc = solution_config.get("trainingDataConfig") or {}
    excl = tdc.get("excludedDatasetColumns") if isinstance(tdc, Mapping) else None
    if not isinstance(excl, Mapping):
        return frozenset()
    return frozenset(str(c).upper() for key, cols in excl.items() if str(key).upper() == dataset_type for c in cols)


def without_excluded_columns(interactions: Interactions, solution_config: Mapping[str, Any]) -> Interactions:
    """The Interactions dataset without its excluded contextual columns."""
    excluded = excluded_columns(solution_config, "INTERACTIONS")
    if not excluded:
        return interactions
    context = {k: v for k, v in interactions.context.items() if k.upper() not in excluded}
    return replace(interactions, context=context)


def check_data_rules(interactions: Interactions, event_type: str | None) -> None:
    """Raise ``DataRuleViolation`` with Personalize's failure text when the minimums are not met."""
    n = len(interactions)
    if n < MIN_INTERACTIONS:
        if event_type:
            reason = (
                f"Dataset has fewer than {MIN_INTERACTIONS} interactions after filtering by event type: {event_type}"
            )
        else:
            reason = f"Create failed. Dataset has fewer than {MIN_INTERACTIONS} interactions."
        raise DataRuleViolation(reason)
    _, counts = np.unique(np.asarray(interactions.user_id).astype(str), return_counts=True)
    with_two = int((counts >= 2).sum())
    if with_two < MIN_USERS_WITH_TWO:
        raise DataRuleViolation(
            f"Create failed. Dataset has fewer than {MIN_USERS_WITH_TWO} users with at least 2 interactions each."
        )
    if with_two < MIN_SHARE_USERS_WITH_TWO * len(counts):
        raise DataRuleViolation(
            "Create failed. Fewer than 1 percent of the users in the dataset have at least 2 interactions each."
        )


def _item_features(
    item_ids: npt.NDArray[Any], items: ItemsTable, excluded: frozenset[str]
) -> tuple[ItemFeatures, npt.NDArray[Any] | None]:
    """Categorical columns become tokens ("GENRES=Comedy"); numeric columns are standardised.

    Columns that are neither categorical nor numeric (textual, plain strings, booleans) are not used for
    training, as the guide says for boolean and uncategorised string fields (L10132).
    """
    position = {str(v): k for k, v in enumerate(items.item_id.tolist())}
    rows = np.asarray([position.get(str(i), -1) for i in item_ids.tolist()], dtype=np.int64)
    tokens: dict[str, int] = {}
    per_item: list[list[int]] = [[] for _ in range(len(item_ids))]
    numeric_names: list[str] = []
    numeric_cols: list[npt.NDArray[np.float64]] = []
    for name in sorted(items.columns):
        if name.upper() in excluded or name.upper() in {"ITEM_ID", "CREATION_TIMESTAMP"}:
            continue
        column = np.asarray(items.columns[name])
        if name in items.categorical:
            for k, r in enumerate(rows.tolist()):
                if r < 0 or column[r] is None:
                    continue
                raw = str(column[r])
                for value in raw.split("|"):
                    value = value.strip().lower()
                    if not value:
                        continue
                    tok = tokens.setdefault(f"{name}={value}", len(tokens))
                    per_item[k].append(tok)
        elif column.dtype.kind in "iuf":
            values = np.full(len(item_ids), np.nan)
            ok = rows >= 0
            values[ok] = column[rows[ok]].astype(np.float64)
            numeric_names.append(name)
            numeric_cols.append(values)
    ptr = np.zeros(len(item_ids) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(set(t)) for t in per_item])
    idx = np.asarray([t for toks in per_item for t in sorted(set(toks))], dtype=np.int64)
    if numeric_cols:
        mat = np.stack(numeric_cols, axis=1)
        mean = np.nanmean(np.where(np.isfinite(mat), mat, np.nan), axis=0)
        mean = np.nan_to_num(mean)
        std = np.nanstd(np.where(np.isfinite(mat), mat, np.nan), axis=0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        numeric = np.nan_to_num((mat - mean) / std).astype(np.float32)
    else:
        numeric = np.zeros((len(item_ids), 0), dtype=np.float32)
        mean = np.zeros(0)
        std = np.zeros(0)
    names = [""] * len(tokens)
    for t, k in tokens.items():
        names[k] = t
    features = ItemFeatures(
        tuple(names), ptr, idx, tuple(numeric_names), numeric, mean.astype(np.float32), std.astype(np.float32)
    )
    creation = None
    if items.creation_timestamp is not None:
        ct = np.asarray(items.creation_timestamp, dtype=np.float64)
        creation = np.full(len(item_ids), np.nan)
        ok = rows >= 0
        creation[ok] = ct[rows[ok]]
    return features, creation


def prepare(
    interactions: Interactions,
    items: ItemsTable | None,
    solution_config: Mapping[str, Any],
    *,
    check_rules: bool = True,
    known_items: npt.NDArray[Any] | None = None,
    max_items: int | None = None,
) -> PreparedData:
    """Filter, check the data rules, index users and items, and order each user's history.

    Items are indexed in sorted id order; with ``known_items`` (an UPDATE), those keep their indices and new
    items are appended after them in sorted order, so a previous model's item tables stay aligned.
    ``max_items`` is the recipe's item limit (L4133): above it, ``newest_items`` picks which of the items that
    are not ``known_items`` stay, and the interactions of the others are left out.
    """
    raw_n = len(interactions)
    filtered = filter_interactions(interactions, solution_config)
    event_type = solution_config.get("eventType")
    if check_rules:
        check_data_rules(filtered, str(event_type) if event_type else None)
    catalogue = set(filtered.item_id.tolist())
    if items is not None:
        catalogue.update(str(v) for v in items.item_id.tolist())
    known = [] if known_items is None else [str(v) for v in known_items.tolist()]
    new = sorted(catalogue.difference(known))
    left_out = 0
    if max_items is not None and len(known) + len(new) > max_items:
        kept = newest_items(new, max(0, max_items - len(known)), filtered, items)
        left_out = len(new) - len(kept)
        new = [v for v in new if v in kept]
        in_model = set(known).union(new)
        rows = np.asarray([v in in_model for v in filtered.item_id.tolist()], dtype=bool)
        filtered = _rows(filtered, rows)
    item_ids = np.asarray(known + new, dtype=object)
    users = filtered.user_id
    items_col = filtered.item_id
    user_ids = np.asarray(sorted(set(users.tolist())), dtype=object)
    item_index = {v: k for k, v in enumerate(item_ids.tolist())}
    user_index = {v: k for k, v in enumerate(user_ids.tolist())}
    u = np.asarray([user_index[v] for v in users.tolist()], dtype=np.int64)
    i = np.asarray([item_index[v] for v in items_col.tolist()], dtype=np.int64)
    ts = filtered.timestamp.astype(np.int64)
    order = np.lexsort((tie_hash(users, items_col), ts, u))
    shown_ptr, shown_item = impression_negatives(filtered.impression, i, item_index, order)
    u, i, ts = u[order], i[order], ts[order]
    ptr = np.zeros(len(user_ids) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(u, minlength=len(user_ids)))

    features: ItemFeatures | None = None
    creation: npt.NDArray[Any] | None = None
    if items is not None:
        features, creation = _item_features(item_ids, items, excluded_columns(solution_config, "ITEMS"))
        if features.empty:
            features = None
    # Item age (L4148): CREATION_TIMESTAMP, else the oldest interaction, else the latest interaction
    # in the training data (and the item counts as new).
    latest = int(ts.max()) if len(ts) else 0
    oldest = np.full(len(item_ids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(oldest, i, ts)
    has_interactions = oldest != np.iinfo(np.int64).max
    item_creation = np.where(has_interactions, oldest, latest).astype(np.int64)
    if creation is not None:
        item_creation = np.where(np.isfinite(creation), np.nan_to_num(creation), item_creation).astype(np.int64)
    summary = {
        "interactionsBeforeFiltering": raw_n,
        "interactionsAfterFiltering": len(filtered),
        "eventType": event_type,
        "eventValueThreshold": solution_config.get("eventValueThreshold"),
        "users": len(user_ids),
        "items": len(item_ids),
        "latestInteractionTimestamp": latest,
    }
    if left_out:
        summary["itemsLeftOut"] = left_out
    if shown_ptr is not None:
        summary["interactionsWithImpressions"] = int((np.diff(shown_ptr) > 0).sum())
        summary["impressionNegatives"] = len(shown_item) if shown_item is not None else 0
    return PreparedData(
        user_ids, item_ids, u, i, ts, ptr, item_creation, ~has_interactions, features, summary, shown_ptr, shown_item
    )


def impression_negatives(
    impression: npt.NDArray[Any] | None, item: IntArray, item_index: Mapping[str, int], order: IntArray
) -> tuple[IntArray | None, IntArray | None]:
    """Per row in ``order``, the indices of the items its event was shown and did not choose (CSR), each once;
    items outside the catalogue are skipped. (None, None) without impressions."""
    if impression is None:
        return None, None
    lengths: list[int] = []
    flat: list[int] = []
    for row in order.tolist():
        shown = impression[row]
        chosen = int(item[row])
        negatives = {item_index.get(str(x), -1) for x in shown} if shown else set()
        negatives.discard(-1)
        negatives.discard(chosen)
        lengths.append(len(negatives))
        flat.extend(sorted(negatives))
    ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(lengths)
    return ptr, np.asarray(flat, dtype=np.int64)


def subset_users(data: PreparedData, users: IntArray) -> PreparedData:
    """The same catalogue with only some users' rows (a user split); user indices are renumbered."""
    users = np.sort(users)
    lengths = data.user_ptr[users + 1] - data.user_ptr[users]
    rows = (
        np.concatenate([np.arange(data.user_ptr[u], data.user_ptr[u + 1]) for u in users])
        if len(users)
        else (np.zeros(0, dtype=np.int64))
    )
    ptr = np.zeros(len(users) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(lengths)
    new_user = np.repeat(np.arange(len(users), dtype=np.int64), lengths)
    shown_ptr, shown_item = None, None
    if data.shown_ptr is not None and data.shown_item is not None:
        counts = data.shown_ptr[rows + 1] - data.shown_ptr[rows]
        shown_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        shown_ptr[1:] = np.cumsum(counts)
        picked = [np.arange(data.shown_ptr[r], data.shown_ptr[r + 1]) for r in rows[counts > 0].tolist()]
        shown_item = data.shown_item[np.concatenate(picked)] if picked else np.zeros(0, dtype=np.int64)
    return PreparedData(
        data.user_ids[users],
        data.item_ids,
        new_user,
        data.item[rows],
        data.timestamp[rows],
        ptr,
        data.item_creation,
        data.item_is_new,
        data.features,
        data.filter_summary,
        shown_ptr,
        shown_item,
    )


def history_length_filter(data: PreparedData, low: float, high: float) -> PreparedData:
    """Drop users whose history length is below the ``low`` or above the ``high`` percentile (L5960)."""
    lengths = np.diff(data.user_ptr)
    if len(lengths) == 0 or (low <= 0.0 and high >= 1.0):
        return data
    lo = np.quantile(lengths, low) if low > 0 else -np.inf
    hi = np.quantile(lengths, high) if high < 1 else np.inf
    keep = np.flatnonzero((lengths >= lo) & (lengths <= hi))
    if len(keep) == len(lengths) or len(keep) == 0:
        return data
    return subset_users(data, keep.astype(np.int64))


def item_attribute(item_ids: npt.NDArray[Any], items: ItemsTable | None, column: str) -> npt.NDArray[np.float64]:
    """A numeric Items column per item index (the optimization objective's ``itemAttribute``; L10222: numeric,
    not null). Items without a row get the column's mean. Raises ``DataRuleViolation`` when there is no such
    numeric column."""
    found = None if items is None else next((c for c in items.columns if c.upper() == column.upper()), None)
    values = None if items is None or found is None else np.asarray(items.columns[found])
    if values is None or values.dtype.kind not in "iuf":
        raise DataRuleViolation(
            f"The optimization objective's itemAttribute {column} is not a numeric column of the Items dataset"
        )
    assert items is not None
    position = {str(v): k for k, v in enumerate(items.item_id.tolist())}
    rows = np.asarray([position.get(str(i), -1) for i in item_ids.tolist()], dtype=np.int64)
    out = np.full(len(item_ids), np.nan)
    out[rows >= 0] = values[rows[rows >= 0]].astype(np.float64)
    mean = float(np.nanmean(out)) if np.isfinite(out).any() else 0.0
    return np.where(np.isfinite(out), out, mean)
