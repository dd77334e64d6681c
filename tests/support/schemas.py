"""The dataset schemas the control-plane tests share: Item interactions with an event type, and Items with
a categorical and a numerical column (``ITEMS_FIELDS``, for tests that widen or narrow it)."""

from __future__ import annotations

import json
from typing import Any

from tailor_shared.schemas import avro_record

INTERACTIONS = json.dumps(avro_record("Interactions", "USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"))
ITEMS_FIELDS: list[dict[str, Any]] = [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "GENRE", "type": ["null", "string"], "categorical": True},
    {"name": "PRICE", "type": ["null", "float"]},
]
ITEMS = json.dumps(avro_record("Items", *ITEMS_FIELDS))
