"""Dataset export jobs: a snapshot of the dataset (bulk, put or both) -> CSV files with a header row.

The snapshot comes from ``tailor_shared.dataset_reader`` (import generations applied, so BULK exports the
bulk data as it stands after FULL replacements). Duplicate handling follows the guide (L14627-14892):
rows identical in every field are written once; in ALL mode Items and Users keep only the newest record per
ID; interactions, and PUT / BULK modes, keep every other row. Files stream to ``tailor_shared.objectstore``
(``s3://`` or ``file://``) and appear atomically, only once complete.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tailor_ingest import domain
from tailor_ingest.config import IngestSettings
from tailor_shared import locations
from tailor_shared.dataset_reader import read_dataset
from tailor_shared.errors import PersonalizeError
from tailor_shared.jobs import JobRecord, StatusUpdate
from tailor_shared.objectstore import ObjectStore, ObjectStoreError
from tailor_shared.records import SchemaCodecs
from tailor_shared.resources import ResourceReader

log = logging.getLogger(__name__)

Report = Callable[[StatusUpdate], None]
ROWS_PER_FILE = 1_000_000


@dataclass(frozen=True)
class ExportRequest:
    job_arn: str
    job_name: str
    dataset_arn: str
    mode: str  # BULK | PUT | ALL
    destination: str

    @classmethod
    def from_job(cls, job: JobRecord) -> ExportRequest:
        payload = job.payload
        output = payload.get("jobOutput") or {}
        destination = (output.get("s3DataDestination") or {}).get("path") if isinstance(output, dict) else None
        if not isinstance(destination, str) or not destination:
            raise domain.ImportFailure("The export job has no jobOutput.s3DataDestination.path.")
        # "The default value is PUT" (CreateDatasetExportJob.ingestionMode).
        mode = str(payload.get("ingestionMode") or "PUT").upper()
        if mode not in domain.EXPORT_SOURCES:
            raise domain.ImportFailure(f"Unknown ingestionMode {mode}: use BULK, PUT or ALL.")
        name = str(payload.get("jobName") or job.resource_arn.rsplit("/", 1)[-1])
        return cls(job.resource_arn, name, str(payload.get("datasetArn") or ""), mode, destination)


@dataclass(frozen=True)
class ExportResult:
    rows: int
    files: tuple[str, ...]
    seconds: float


def _formatter(avro_types: Sequence[str]) -> Callable[[np.ndarray], list[str]]:
    """Cells exactly as an import reads them back: numbers in shortest form, null as empty."""
    kind = next((t for t in avro_types if t != "null"), "string")

    def integers(col: np.ndarray) -> list[str]:
        if col.dtype.kind == "f":
            return ["" if np.isnan(v) else str(int(v)) for v in col.tolist()]
        return [domain.csv_cell(v) for v in col.tolist()]

    def floats(col: np.ndarray) -> list[str]:
        # str() of a numpy float32 is its shortest round-trip form ("4.1", not 4.099999904632568).
        return ["" if np.isnan(v) else str(v) for v in col]

    if kind in ("int", "long"):
        return integers
    if kind in ("float", "double"):
        return floats
    return lambda col: [domain.csv_cell(v) for v in col.tolist()]


class Exporter:
    def __init__(self, settings: IngestSettings, view: ResourceReader, report: Report) -> None:
        self._settings = settings
        self._objects = ObjectStore(settings.common.s3)
        self._view = view
        self._report = report

    def run(self, job: JobRecord) -> None:
        try:
            self._report(StatusUpdate(job.resource_arn, "CREATE IN_PROGRESS"))
            request = ExportRequest.from_job(job)
            result = self.execute(request)
        except domain.ImportFailure as failure:
            log.info("export job failed", extra={"job": job.resource_arn, "reason": failure.reason})
            self._report(StatusUpdate(job.resource_arn, "CREATE FAILED", failure.reason))
            return
        except PersonalizeError as err:
            self._report(StatusUpdate(job.resource_arn, "CREATE FAILED", err.message))
            return
        except Exception as exc:
            log.exception("export job crashed", extra={"job": job.resource_arn})
            self._report(StatusUpdate(job.resource_arn, "CREATE FAILED", f"Export failed: {exc!r}"))
            return
        log.info(
            "export job done",
            extra={
                "job": job.resource_arn,
                "rows": result.rows,
                "files": len(result.files),
                "seconds": round(result.seconds, 3),
            },
        )
        self._report(StatusUpdate(job.resource_arn, "ACTIVE", fields={"_recordsExported": result.rows}))

    def execute(self, request: ExportRequest) -> ExportResult:
        started = time.perf_counter()
        record = self._view.get(request.dataset_arn)
        if record is None:
            raise domain.ImportFailure(f"Could not find the dataset {request.dataset_arn}.")
        target = domain.dataset_target(self._view, record, self._settings.prefix)
        domain.check_exportable(target.dataset_type)
        schema = target.plan.schema.avro_schema()
        snapshot = read_dataset(
            self._settings.common.kafka_bootstrap,
            target.topic,
            target.dataset_type,
            schema,
            SchemaCodecs(self._view),
            sources=domain.EXPORT_SOURCES[request.mode],
            latest_per_id=domain.export_latest_per_id(request.mode, target.dataset_type),
            dedupe_event_ids=False,
        )
        names = list(target.plan.rules)
        types = {f["name"]: (f["type"] if isinstance(f["type"], list) else [f["type"]]) for f in schema["fields"]}
        cells = [_formatter(types[n])(snapshot.columns[n]) for n in names]
        rows = list(zip(*cells, strict=True)) if cells else []
        rows = [rows[i] for i in domain.drop_exact_duplicates(rows)]
        files = self._write(request, names, rows)
        return ExportResult(len(rows), tuple(files), time.perf_counter() - started)

    def _write(self, request: ExportRequest, header: Sequence[str], rows: Sequence[tuple[str, ...]]) -> list[str]:
        """``…/file.csv`` is written as that object; a folder gets ``<jobName>/part-NNNNN.csv`` (ADR 0003), each
        streamed to the store and visible only once complete."""
        try:
            destination = locations.parse(request.destination)
        except locations.InvalidLocation as err:
            raise domain.ImportFailure(str(err)) from None
        if destination.key.lower().endswith(".csv"):
            targets = [destination.url]
            chunks = [rows]
        else:
            folder = destination.child(request.job_name)
            chunks = [rows[i : i + ROWS_PER_FILE] for i in range(0, max(len(rows), 1), ROWS_PER_FILE)]
            targets = [folder.child(f"part-{n:05d}.csv").url for n in range(len(chunks))]
        written: list[str] = []
        for target, chunk in zip(targets, chunks, strict=True):
            try:
                with self._objects.open_write(target) as raw:
                    f = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)
                    writer = csv.writer(f, escapechar="\\", doublequote=False, lineterminator="\n")
                    writer.writerow(header)
                    writer.writerows(chunk)
                    f.flush()
                    f.detach()
            except ObjectStoreError as err:
                raise domain.ImportFailure(str(err)) from None
            written.append(target)
        return written
