"""Bulk CSV import rules (L5200-5299, L18483-18489): header layout, row conversion, record counts, sizes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tailor_ingest.domain.errors import FieldError, ImportFailure
from tailor_ingest.domain.fields import DatasetPlan
from tailor_shared import schemas

#: "your CSV file must have at minimum 1000 interaction records" (L7629, quota L19691); appending to an
#: Action interactions dataset needs "at minimum 1000 new ... action interaction records" (L7979).
MIN_BULK_INTERACTIONS: Final = 1000
#: Bulk size per import job: FULL 100 GB, INCREMENTAL 1 GB (quota L19689).
MAX_IMPORT_BYTES: Final[dict[str, int]] = {"FULL": 100 * 1024**3, "INCREMENTAL": 1024**3}


@dataclass(frozen=True)
class CsvLayout:
    """How one file's columns map to schema fields; built from its header row."""

    width: int
    columns: tuple[tuple[int, str, Callable[[str], Any]], ...]  # (position, field, converter)
    constants: Mapping[str, Any]  # fields the file doesn't have: default or null

    def convert(self, cells: Sequence[str]) -> dict[str, Any]:
        """One CSV record -> Avro row; raises ``RowError`` naming the column of the first bad value."""
        if len(cells) != self.width:
            raise RowError(None, f"the record has {len(cells)} values but the header has {self.width} columns")
        row = dict(self.constants)
        name = ""
        try:
            for position, name, converter in self.columns:
                row[name] = converter(cells[position])
        except FieldError as err:
            raise RowError(name, str(err)) from None
        return row


class RowError(ValueError):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def csv_layout(header: Sequence[str], plan: DatasetPlan) -> CsvLayout:
    """Header names must be schema fields; fields that can't be null must be present (L5200, L18483)."""
    names = [h.strip() for h in header]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ImportFailure(f"Input CSV has duplicate columns:[{', '.join(dup)}]")
    unknown = [n for n in names if n not in plan.rules]
    if unknown:
        raise ImportFailure(
            f"Input CSV has columns that are not in the schema:[{', '.join(unknown)}]. "
            f"Schema fields: [{', '.join(plan.rules)}]"
        )
    missing: list[str] = []
    constants: dict[str, Any] = {}
    for name, rule in plan.rules.items():
        if name in names:
            continue
        try:
            constants[name] = rule.missing()
        except FieldError:
            missing.append(name)
    if missing:
        raise ImportFailure(f"Input CSV is missing the following columns:[{', '.join(missing)}]")
    columns = tuple((names.index(n), n, plan.rules[n].text_converter()) for n in plan.rules if n in names)
    return CsvLayout(len(names), columns, constants)


def import_failure(dataset_type: str, detail: str) -> str:
    """The guide's failure wording: "Failed to create a data import job for <dataset type> dataset..." (L18483)."""
    return f"Failed to create a data import job for {dataset_type} dataset. {detail}"


def row_failure(file_name: str, line: int, record: int, err: RowError) -> str:
    where = f"Input CSV {file_name} line {line} (record {record})"
    return f"{where}, column {err.column}: {err.message}" if err.column else f"{where}: {err.message}"


def check_record_count(dataset_type: str, import_mode: str, rows: int) -> None:
    """At least 1000 interaction records per job (L7629, L19691; appending action interactions: L7979)."""
    needs_minimum = dataset_type == schemas.INTERACTIONS or (
        dataset_type == schemas.ACTION_INTERACTIONS and import_mode == "INCREMENTAL"
    )
    if needs_minimum and rows < MIN_BULK_INTERACTIONS:
        what = "interaction" if dataset_type == schemas.INTERACTIONS else "new action interaction"
        raise ImportFailure(f"Input data must have at minimum {MIN_BULK_INTERACTIONS} {what} records; found {rows}.")
    if rows == 0:
        raise ImportFailure("Input data has no records.")


def check_import_size(import_mode: str, total_bytes: int) -> None:
    limit = MAX_IMPORT_BYTES[import_mode]
    if total_bytes > limit:
        raise ImportFailure(
            f"Input data is {total_bytes} bytes; an import job with {import_mode} import mode reads at most "
            f"{limit // 1024**3} GB."
        )


def progress_percent(phase: int, fraction: float) -> float:
    """Import progress: validating (phase 0) is the first 60 %, writing (phase 1) the rest; never 100 before
    the job is done."""
    fraction = min(max(fraction, 0.0), 1.0)
    percent = 60.0 * fraction if phase == 0 else 60.0 + 40.0 * fraction
    return round(min(percent, 99.0), 1)
