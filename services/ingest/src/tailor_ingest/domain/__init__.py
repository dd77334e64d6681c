"""Pure validation and conversion of the ingest path: Put* requests and bulk CSV rows -> Avro rows.

No I/O here. The servicer resolves resources through a ``ResourceReader`` and the import job hands in CSV text
rows; this package decides what is valid and builds the row dicts in the dataset's Avro schema. Every limit
cites the Developer Guide (Lnnnn = line in spec/seeds/personalize-developer-guide.txt) and every rejection
names the record and the field, in AWS's validation wording, because a client must be able to fix its
request from the message alone. Decisions the guide leaves open: docs/adr/0003-ingest-and-import.md.

* ``fields`` — one schema field's rule and a dataset's plan (JSON and CSV values -> Avro values);
* ``targets`` — a dataset / tracker resolved to its plan, codec and topic;
* ``put`` — the Put* requests; ``inbound`` — inbound topics' JSON records by the same rules (ADR 0024);
  ``bulk`` — bulk CSV import rules; ``locations`` — job data locations; ``export`` — dataset export rules;
  ``errors`` — the validation wording and job failures.
"""

from __future__ import annotations

from tailor_ingest.domain.bulk import (
    MAX_IMPORT_BYTES,
    MIN_BULK_INTERACTIONS,
    CsvLayout,
    RowError,
    check_import_size,
    check_record_count,
    csv_layout,
    import_failure,
    progress_percent,
    row_failure,
)
from tailor_ingest.domain.errors import FieldError, ImportFailure, constraint
from tailor_ingest.domain.export import (
    EXPORT_SOURCES,
    check_exportable,
    csv_cell,
    drop_exact_duplicates,
    export_latest_per_id,
)
from tailor_ingest.domain.fields import ColumnRule, DatasetPlan, normalized_key
from tailor_ingest.domain.inbound import (
    MAX_INBOUND_VALUE_BYTES,
    avro_members,
    inbound_event_id,
    inbound_rows,
    parse_value,
)
from tailor_ingest.domain.put import (
    ACTIONS_KIND,
    ITEMS_KIND,
    MAX_EVENT_BYTES,
    USERS_KIND,
    EntityKind,
    PreparedRow,
    check_put_action_interactions,
    check_put_entities,
    check_put_events,
    put_action_interactions,
    put_entities,
    put_events,
)
from tailor_ingest.domain.targets import (
    Target,
    dataset_target,
    resolve_action_tracker,
    resolve_dataset,
    resolve_event_tracker,
    resolve_inbound,
)

__all__ = [
    "ACTIONS_KIND",
    "EXPORT_SOURCES",
    "ITEMS_KIND",
    "MAX_EVENT_BYTES",
    "MAX_IMPORT_BYTES",
    "MAX_INBOUND_VALUE_BYTES",
    "MIN_BULK_INTERACTIONS",
    "USERS_KIND",
    "ColumnRule",
    "CsvLayout",
    "DatasetPlan",
    "EntityKind",
    "FieldError",
    "ImportFailure",
    "PreparedRow",
    "RowError",
    "Target",
    "avro_members",
    "check_exportable",
    "check_import_size",
    "check_put_action_interactions",
    "check_put_entities",
    "check_put_events",
    "check_record_count",
    "constraint",
    "csv_cell",
    "csv_layout",
    "dataset_target",
    "drop_exact_duplicates",
    "export_latest_per_id",
    "import_failure",
    "inbound_event_id",
    "inbound_rows",
    "normalized_key",
    "parse_value",
    "progress_percent",
    "put_action_interactions",
    "put_entities",
    "put_events",
    "resolve_action_tracker",
    "resolve_dataset",
    "resolve_event_tracker",
    "resolve_inbound",
    "row_failure",
]
