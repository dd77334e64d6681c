"""Bulk CSV rules, data locations, export rules and the reader's import generations (pure logic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailor_ingest import domain
from tailor_ingest.importer import _Buffer, list_input_files
from tailor_shared import schemas
from tailor_shared.avro import AvroCodec
from tailor_shared.dataset_reader import _generations, _keep_mask, _Scan
from tailor_shared.objectstore import ObjectStore
from tailor_shared.records import RowContext, encode_row
from tailor_tools import seed

PLANS = {t: domain.DatasetPlan.build(schemas.validate_schema(json.dumps(s), t)) for t, s in seed.SCHEMAS.items()}
INTERACTIONS = PLANS["Interactions"]
HEADER = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "IMPRESSION", "DEVICE"]


def failure(call: object) -> str:
    assert callable(call)
    with pytest.raises(domain.ImportFailure) as info:
        call()
    return info.value.reason


def row_error(layout: domain.CsvLayout, cells: list[str]) -> domain.RowError:
    with pytest.raises(domain.RowError) as info:
        layout.convert(cells)
    return info.value


# --- header ----------------------------------------------------------------------------------------------------
def test_header_maps_columns_and_fills_absent_nullable_fields() -> None:
    layout = domain.csv_layout(HEADER, INTERACTIONS)
    row = layout.convert(["u1", "i1", "1700000000", "click", "4.5", "i1|i2", "phone|tv"])
    assert row == {
        "USER_ID": "u1",
        "ITEM_ID": "i1",
        "TIMESTAMP": 1_700_000_000,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": 4.5,
        "IMPRESSION": "i1|i2",
        "RECOMMENDATION_ID": None,
        "EVENT_ATTRIBUTION_SOURCE": None,
        "DEVICE": "phone|tv",
        "NUM_RATINGS": None,
    }


def test_header_problems_use_the_guides_wording() -> None:
    # "Input CSV is missing the following columns:[COLUMN_NAME, COLUMN_NAME]" (L18483).
    assert failure(lambda: domain.csv_layout(["USER_ID", "ITEM_ID"], INTERACTIONS)) == (
        "Input CSV is missing the following columns:[TIMESTAMP, EVENT_TYPE]"
    )
    assert "not in the schema:[RATING]" in failure(lambda: domain.csv_layout([*HEADER, "RATING"], INTERACTIONS))
    assert "duplicate columns:[ITEM_ID]" in failure(lambda: domain.csv_layout([*HEADER, "ITEM_ID"], INTERACTIONS))


# --- values ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("position", "value", "column", "fragment"),
    [
        (0, "", "USER_ID", "required"),
        (0, "u" * 257, "USER_ID", "Length cannot be more than 256 characters for USER_ID"),
        (2, "", "TIMESTAMP", "required"),
        (2, "yesterday", "TIMESTAMP", "not a valid long"),
        (2, "1700000000000", "TIMESTAMP", "epoch time in seconds"),
        (2, "-1", "TIMESTAMP", "epoch time in seconds"),
        (2, "17.5", "TIMESTAMP", "whole number"),
        (3, "x" * 257, "EVENT_TYPE", "Length cannot be more than 256 characters for EVENT_TYPE"),
        (3, "IMPRESSION", "EVENT_TYPE", "reserved keyword"),
        (4, "abc", "EVENT_VALUE", "not a valid float"),
        (4, "nan", "EVENT_VALUE", "finite"),
        (5, "i|" * 500 + "i", "IMPRESSION", "Length cannot be more than 1000 characters for IMPRESSION"),
        (6, "c|" * 500 + "c", "DEVICE", "Length cannot be more than 1000 characters for DEVICE"),
    ],
)
def test_cells_are_checked_against_their_field(position: int, value: str, column: str, fragment: str) -> None:
    layout = domain.csv_layout(HEADER, INTERACTIONS)
    cells = ["u1", "i1", "1700000000", "click", "4.5", "", "phone"]
    cells[position] = value
    err = row_error(layout, cells)
    assert err.column == column and fragment in err.message, err.message


def test_integral_numbers_in_float_form_and_empty_nullables_are_accepted() -> None:
    layout = domain.csv_layout(HEADER, INTERACTIONS)
    row = layout.convert(["u1", "i1", "881250949.0", "click", "", "", ""])
    assert row["TIMESTAMP"] == 881250949 and row["EVENT_VALUE"] is None and row["DEVICE"] is None


def test_record_width_must_match_the_header() -> None:
    err = row_error(domain.csv_layout(HEADER, INTERACTIONS), ["u1", "i1"])
    assert err.column is None and "header has 7 columns" in err.message


def test_items_textual_truncated_booleans_and_actions_ranges() -> None:
    items = domain.csv_layout(["ITEM_ID", "GENRES", "CREATION_TIMESTAMP", "DESCRIPTION"], PLANS["Items"])
    row = items.convert(["i1", "Action|Adventure", "1596238243", "t" * 20_500])
    assert len(row["DESCRIPTION"]) == 20_000 and row["PRICE"] is None
    assert len(items.convert(["i2", "", "1", "\u65e5" * 8000])["DESCRIPTION"]) == 7000  # Japanese: 7,000 (L4176)
    actions = domain.csv_layout(["ACTION_ID", "VALUE", "REPEAT_FREQUENCY"], PLANS["Actions"])
    assert actions.convert(["a1", "10", "30"])["VALUE"] == 10
    assert "between 1 and 10" in row_error(actions, ["a1", "11", "1"]).message
    assert "between 0 and 30" in row_error(actions, ["a1", "1", "31"]).message


def test_failure_reason_names_file_line_record_and_column() -> None:
    err = domain.RowError("EVENT_VALUE", "'abc' is not a valid float for EVENT_VALUE")
    reason = domain.import_failure("Interactions", domain.row_failure("ratings.csv", 8, 7, err))
    assert reason == (
        "Failed to create a data import job for Interactions dataset. Input CSV ratings.csv line 8 (record 7), "
        "column EVENT_VALUE: 'abc' is not a valid float for EVENT_VALUE"
    )


@pytest.mark.parametrize(
    ("dataset_type", "mode", "rows", "ok"),
    [
        ("Interactions", "FULL", 999, False),
        ("Interactions", "INCREMENTAL", 999, False),
        ("Interactions", "FULL", 1000, True),
        ("Action_Interactions", "INCREMENTAL", 999, False),
        ("Action_Interactions", "FULL", 10, True),
        ("Items", "FULL", 1, True),
        ("Users", "INCREMENTAL", 0, False),
    ],
)
def test_minimum_records_per_import(dataset_type: str, mode: str, rows: int, ok: bool) -> None:
    if ok:
        domain.check_record_count(dataset_type, mode, rows)
    else:
        failure(lambda: domain.check_record_count(dataset_type, mode, rows))


def test_import_size_limits() -> None:
    domain.check_import_size("INCREMENTAL", 1024**3)
    assert "1 GB" in failure(lambda: domain.check_import_size("INCREMENTAL", 1024**3 + 1))
    assert "100 GB" in failure(lambda: domain.check_import_size("FULL", 100 * 1024**3 + 1))


# --- locations ---------------------------------------------------------------------------------------------------
def test_folders_are_read_one_level_deep(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text("x")
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.csv").write_text("x")
    store = ObjectStore()
    assert [f.name for f in list_input_files(store, f"file://{tmp_path}/")] == ["a.csv", "b.csv"]
    assert [f.name for f in list_input_files(store, f"file://{tmp_path}")] == ["a.csv", "b.csv"]
    assert [f.size for f in list_input_files(store, f"file://{tmp_path}/a.csv")] == [1]
    assert "no such file" in failure(lambda: list_input_files(store, f"file://{tmp_path}/nope"))
    (tmp_path / "empty").mkdir()
    assert "the folder is empty" in failure(lambda: list_input_files(store, f"file://{tmp_path}/empty/"))
    assert "Invalid Data location" in failure(lambda: list_input_files(store, "https://example.com/x.csv"))
    assert "Invalid Data location" in failure(lambda: list_input_files(store, "file://relative/x.csv"))


# --- bulk encoding is encode_row's ------------------------------------------------------------------------------------
def test_bulk_fast_path_produces_exactly_what_encode_row_produces() -> None:
    codec = AvroCodec(seed.SCHEMAS["Interactions"])
    layout = domain.csv_layout(HEADER, INTERACTIONS)
    rows = [layout.convert([f"u{n}", f"i{n}", "1700000000", "click", "1.5", "", ""]) for n in range(5)]
    buffer = _Buffer(codec.encode, "USER_ID", 1 << 20)
    for row in rows:
        buffer.add(row)
    ctx = RowContext("arn:d", "arn:s", source="bulk", import_job_arn="arn:job")
    expected = [encode_row("t", "Interactions", codec, row, ctx) for row in rows]
    assert buffer.values == [r.value for r in expected]
    assert buffer.keys == [r.key for r in expected]
    assert all(r.headers == expected[0].headers for r in expected)  # one header list serves every bulk row


def test_buffer_overflow_switches_to_a_second_pass() -> None:
    buffer = _Buffer(lambda row: b"x" * 100, "USER_ID", 1000)
    for n in range(20):
        buffer.add({"USER_ID": str(n)})
    assert buffer.overflowed and not buffer.values and buffer.first_row == {"USER_ID": "0"}


# --- export rules -----------------------------------------------------------------------------------------------------
def test_export_rules() -> None:
    assert domain.EXPORT_SOURCES["PUT"] == ("put",) and set(domain.EXPORT_SOURCES["ALL"]) == {"put", "bulk"}
    assert domain.export_latest_per_id("ALL", "Items") and domain.export_latest_per_id("ALL", "Users")
    assert not domain.export_latest_per_id("ALL", "Interactions")
    assert not domain.export_latest_per_id("PUT", "Items") and not domain.export_latest_per_id("BULK", "Users")
    assert domain.drop_exact_duplicates([("a", "1"), ("a", "2"), ("a", "1"), ("b", "1")]) == [0, 1, 3]
    assert [domain.csv_cell(v) for v in (None, True, 4.5, 7, "x", float("nan"))] == ["", "true", "4.5", "7", "x", ""]
    assert "can't export" in failure(lambda: domain.check_exportable("Actions"))
    assert "can't export" in failure(lambda: domain.check_exportable("Action_Interactions"))
    domain.check_exportable("Interactions")


# --- the reader's import generations ------------------------------------------------------------------------
def scan_with(
    rows: list[tuple[int, int, int]], completed: dict[str, tuple[str, int, int]], starts: dict[tuple[str, int], int]
) -> _Scan:
    """rows: (group, partition, offset); groups 1..n are jobs j1..jn."""
    scan = _Scan(["X"])
    for group, partition, offset in rows:
        scan.group.append(group)
        scan.partition.append(partition)
        scan.offset.append(offset)
    scan.job_ids = {f"j{n}": n for n in range(1, 5)}
    scan.completed = completed
    scan.starts = starts
    return scan


def test_full_import_replaces_earlier_bulk_rows_but_never_put_rows() -> None:
    rows = [(0, 0, 0), (1, 0, 1), (1, 0, 2), (2, 0, 3), (3, 0, 4), (4, 0, 5)]
    completed = {
        "j1": ("FULL", 2, 100),
        "j2": ("INCREMENTAL", 1, 200),
        "j3": ("FULL", 1, 300),
        "j4": ("INCREMENTAL", 1, 400),
    }
    scan = scan_with(rows, completed, {})
    generations = _generations(scan)
    assert [(g.import_job_arn, g.effective) for g in generations] == [
        ("j1", False),
        ("j2", False),
        ("j3", True),
        ("j4", True),
    ]
    assert _keep_mask(scan, generations, ("put", "bulk")).tolist() == [True, False, False, False, True, True]
    assert _keep_mask(scan, generations, ("bulk",)).tolist() == [False, False, False, False, True, True]
    assert _keep_mask(scan, generations, ("put",)).tolist() == [True, False, False, False, False, False]


def test_rows_of_an_unfinished_import_or_of_a_retried_attempt_are_ignored() -> None:
    # j1 completed; its first attempt wrote (0,1),(0,2) before crashing, the retry's start marker is at offset 3.
    rows = [(1, 0, 1), (1, 0, 2), (1, 0, 4), (1, 1, 0), (2, 0, 5)]
    scan = scan_with(rows, {"j1": ("FULL", 2, 100)}, {("j1", 0): 3, ("j1", 1): -1})
    generations = _generations(scan)
    assert _keep_mask(scan, generations, ("put", "bulk")).tolist() == [False, False, True, True, False]


def test_import_progress_percent() -> None:
    assert domain.progress_percent(0, 0.0) == 0.0
    assert domain.progress_percent(0, 0.5) == 30.0
    assert domain.progress_percent(1, 0.5) == 80.0
    assert domain.progress_percent(1, 1.5) == 99.0  # 100 only with ACTIVE
