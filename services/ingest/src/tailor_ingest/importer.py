"""Dataset import jobs: CSV files -> validated Avro rows -> the dataset topic -> the import-complete markers.

The whole input is validated before the first row is written (Personalize fails a job without importing
part of it): rows are encoded into memory while they fit ``import_buffer_bytes``; a larger input is read a
second time to write it. Then, per docs/specs/topics.md: an ``import-start`` marker on every partition, the
rows (``tailor-source: bulk`` + ``tailor-import-job``), and only after Kafka acknowledged every row the
``import-complete`` markers. Readers ignore rows of a job without a complete marker, and rows before a
job's last start marker (a retried attempt), so a crash never leaves half an import in the dataset.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tailor_ingest import domain
from tailor_ingest.adapters import BulkProducer, TopicGuard
from tailor_ingest.config import IngestSettings
from tailor_shared.dataset_reader import import_start_marker, paused_gc
from tailor_shared.errors import PersonalizeError
from tailor_shared.jobs import JobInterrupted, JobRecord, StatusUpdate
from tailor_shared.objectstore import ObjectInfo, ObjectStore, ObjectStoreError
from tailor_shared.records import KEY_FIELDS, RowContext, encode_row, import_complete_marker
from tailor_shared.resources import ResourceReader
from tailor_shared.topics import SOURCE_BULK

log = logging.getLogger(__name__)

Report = Callable[[StatusUpdate], None]
_CHECK_EVERY = 20_000  # rows between progress / stop checks


class Aborted(Exception):
    """The worker is stopping; the job is left for redelivery (its offset is not committed)."""


@dataclass(frozen=True)
class ImportRequest:
    job_arn: str
    dataset_arn: str
    location: str
    mode: str  # FULL | INCREMENTAL

    @classmethod
    def from_job(cls, job: JobRecord) -> ImportRequest:
        payload = job.payload
        source = payload.get("dataSource") or {}
        location = source.get("dataLocation") if isinstance(source, dict) else None
        if not isinstance(location, str) or not location:
            raise domain.ImportFailure("The import job has no dataSource.dataLocation.")
        mode = str(payload.get("importMode") or "FULL").upper()
        if mode not in domain.MAX_IMPORT_BYTES:
            raise domain.ImportFailure(f"Unknown importMode {mode}: use FULL or INCREMENTAL.")
        return cls(job.resource_arn, str(payload.get("datasetArn") or ""), location, mode)


@dataclass(frozen=True)
class ImportResult:
    rows: int
    files: int
    bytes: int
    seconds: float
    buffered: bool

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def list_input_files(store: ObjectStore, location: str) -> list[ObjectInfo]:
    """A file, or the files at the first level of a folder: "Amazon Personalize only uses the files in the first
    level of your folder, it doesn't use any data in any sub folders" (L8007)."""
    try:
        files = store.list_objects(location, recursive=False)
    except ObjectStoreError as err:
        raise domain.ImportFailure(str(err)) from None
    if not files:
        raise domain.ImportFailure(f"Invalid Data location {location}: no such file or folder, or the folder is empty.")
    return files


class _Buffer:
    """Encoded rows kept in memory until the whole input is known to be valid."""

    def __init__(self, codec_encode: Callable[[dict[str, Any]], bytes], key_field: str, limit: int) -> None:
        self.encode = codec_encode
        self.key_field = key_field
        self.limit = limit
        self.values: list[bytes] = []
        self.keys: list[bytes] = []
        self.size = 0
        self.overflowed = False
        self.first_row: dict[str, Any] | None = None

    def add(self, row: dict[str, Any]) -> None:
        if self.first_row is None:
            self.first_row = row
        if self.overflowed:
            return
        value = self.encode(row)
        key = str(row.get(self.key_field) or "").encode()
        self.values.append(value)
        self.keys.append(key)
        self.size += len(value) + len(key) + 100  # + list slots and bytes object headers
        if self.size > self.limit:
            self.overflowed = True
            self.values, self.keys = [], []


class _Writer:
    """Second pass of an input too large to buffer: encode and produce as rows are read."""

    def __init__(
        self, produce: Callable[[bytes, bytes], None], encode: Callable[[dict[str, Any]], bytes], key_field: str
    ) -> None:
        self.produce = produce
        self.encode = encode
        self.key_field = key_field

    def add(self, row: dict[str, Any]) -> None:
        self.produce(self.encode(row), str(row.get(self.key_field) or "").encode())


class Importer:
    """Runs one import job at a time; ``run`` reports the outcome, ``execute`` is the work itself."""

    def __init__(
        self,
        settings: IngestSettings,
        view: ResourceReader,
        topics: TopicGuard,
        report: Report,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._settings = settings
        self._view = view
        self._topics = topics
        self._report = report
        self._should_stop = should_stop
        self._objects = ObjectStore(settings.common.s3)

    def run(self, job: JobRecord) -> None:
        """Run and report; raises ``JobInterrupted`` when aborted (the job must be delivered again)."""
        started = time.perf_counter()
        dataset_type = str(job.payload.get("datasetType") or "dataset")
        try:
            self._report(StatusUpdate(job.resource_arn, "CREATE IN_PROGRESS", fields={"_progressPercent": 0.0}))
            request = ImportRequest.from_job(job)
            record = self._view.get(request.dataset_arn)
            if record is None:
                raise domain.ImportFailure(f"Could not find the dataset {request.dataset_arn}.")
            target = domain.dataset_target(self._view, record, self._settings.prefix)
            dataset_type = target.dataset_type
            result = self.execute(request, target)
        except Aborted:
            log.warning("import job aborted; it will run again", extra={"job": job.resource_arn})
            raise JobInterrupted(job.resource_arn) from None
        except (domain.ImportFailure, ObjectStoreError) as failure:
            detail = failure.reason if isinstance(failure, domain.ImportFailure) else str(failure)
            reason = domain.import_failure(dataset_type, detail)
            log.info("import job failed", extra={"job": job.resource_arn, "reason": reason})
            self._report(StatusUpdate(job.resource_arn, "CREATE FAILED", reason))
            return
        except PersonalizeError as err:
            reason = domain.import_failure(dataset_type, err.message)
            log.warning("import job failed", extra={"job": job.resource_arn, "reason": reason})
            self._report(StatusUpdate(job.resource_arn, "CREATE FAILED", reason))
            return
        except Exception as exc:
            log.exception("import job crashed", extra={"job": job.resource_arn})
            reason = domain.import_failure(dataset_type, repr(exc))
            self._report(StatusUpdate(job.resource_arn, "CREATE FAILED", reason))
            return
        log.info(
            "import job done",
            extra={
                "job": job.resource_arn,
                "rows": result.rows,
                "files": result.files,
                "seconds": round(time.perf_counter() - started, 3),
                "rows_per_s": round(result.rows_per_second),
            },
        )
        self._report(
            StatusUpdate(
                job.resource_arn,
                "ACTIVE",
                fields={"_progressPercent": 100.0, "_recordsImported": result.rows, "_bytesRead": result.bytes},
            )
        )

    # --- the work ---------------------------------------------------------------------------------------------
    def execute(self, request: ImportRequest, target: domain.Target) -> ImportResult:
        started = time.perf_counter()
        files = list_input_files(self._objects, request.location)
        total = sum(f.size for f in files)
        domain.check_import_size(request.mode, total)
        key_field = KEY_FIELDS[target.dataset_type]
        progress = _ProgressClock(
            request.job_arn, total, self._report, self._settings.progress_interval_s, self._should_stop
        )
        buffer = _Buffer(target.codec.encode, key_field, self._settings.import_buffer_bytes)
        with paused_gc():
            rows = self._read(files, target, buffer, progress, phase=0)
        domain.check_record_count(target.dataset_type, request.mode, rows)
        assert buffer.first_row is not None
        headers = list(
            encode_row(
                target.topic,
                target.dataset_type,
                target.codec,
                buffer.first_row,
                RowContext(target.dataset_arn, target.schema_arn, source=SOURCE_BULK, import_job_arn=request.job_arn),
            ).headers
        )
        producer = BulkProducer(self._settings.common.kafka_bootstrap)
        self._topics.ensure(self._topics.dataset_spec(target.topic, target.dataset_type))
        partitions = producer.partitions(target.topic)
        for p in partitions:
            marker = import_start_marker(target.topic, p, request.job_arn, request.mode)
            producer.produce(marker.topic, marker.value or b"", marker.key, list(marker.headers), partition=p)
        producer.flush_or_raise()
        topic = target.topic
        if not buffer.overflowed:
            produce, poll = producer.produce, producer.poll
            for i, (value, key) in enumerate(zip(buffer.values, buffer.keys, strict=True)):
                produce(topic, value, key, headers)
                if i % 10_000 == 0:
                    poll()
                    if i % _CHECK_EVERY == 0:
                        progress.tick(i / max(rows, 1), rows_done=i, phase=1)
        else:
            written = [0]

            def produce_row(value: bytes, key: bytes) -> None:
                producer.produce(topic, value, key, headers)
                written[0] += 1
                if written[0] % 10_000 == 0:
                    producer.poll()

            with paused_gc():
                writer = _Writer(produce_row, target.codec.encode, key_field)
                second = self._read(files, target, writer, progress, phase=1)
            if second != rows:
                raise domain.ImportFailure(f"The input changed while it was imported ({rows} then {second} records).")
        producer.flush_or_raise()
        complete = import_complete_marker(topic, request.job_arn, request.mode, rows)
        for p in partitions:
            producer.produce(complete.topic, complete.value or b"", complete.key, list(complete.headers), partition=p)
        producer.flush_or_raise()
        return ImportResult(rows, len(files), total, time.perf_counter() - started, not buffer.overflowed)

    def _read(
        self,
        files: Sequence[ObjectInfo],
        target: domain.Target,
        sink: _Buffer | _Writer,
        progress: _ProgressClock,
        phase: int,
    ) -> int:
        """Parse and check every record of every file (bulk format rules, L5200-5299), streamed from the store."""
        count = 0
        done_bytes = 0
        for info in files:
            name = info.name.rsplit("/", 1)[-1]
            with self._objects.open_read(info.url) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                # Textual values are double-quoted with '\' escaping '"' and '\' (L4172, L18491).
                reader = csv.reader(text, escapechar="\\", strict=True)
                try:
                    header = next(reader, None)
                    if header is None:
                        raise domain.ImportFailure(f"Input CSV {name} is empty: its first row must be the header.")
                    try:
                        layout = domain.csv_layout(header, target.plan)
                    except domain.ImportFailure as failure:
                        raise domain.ImportFailure(f"{failure.reason} (file {name})") from None
                    convert, add = layout.convert, sink.add
                    for cells in reader:
                        if not cells:
                            continue  # a blank line
                        add(convert(cells))
                        count += 1
                        if count % _CHECK_EVERY == 0:
                            progress.tick(
                                (done_bytes + raw.tell()) / max(progress.total, 1), rows_done=count, phase=phase
                            )
                except domain.RowError as err:
                    raise domain.ImportFailure(domain.row_failure(name, reader.line_num, count + 1, err)) from None
                except csv.Error as err:
                    raise domain.ImportFailure(f"Input CSV {name} line {reader.line_num}: {err}.") from None
                except UnicodeDecodeError:
                    raise domain.ImportFailure(
                        f"Input CSV {name} is not valid UTF-8 (near line {reader.line_num + 1})."
                    ) from None
                done_bytes += info.size
        return count


class _ProgressClock:
    """Progress for logs and control (``_progressPercent`` in the status fields), at most every few seconds;
    also where a stopping worker interrupts a long job."""

    def __init__(
        self, job_arn: str, total: int, report: Report, interval_s: float, should_stop: Callable[[], bool]
    ) -> None:
        self.job_arn = job_arn
        self.total = total
        self._report = report
        self._interval = interval_s
        self._should_stop = should_stop
        self._last = time.monotonic()

    def tick(self, fraction: float, *, rows_done: int, phase: int) -> None:
        if self._should_stop():
            raise Aborted()
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        percent = domain.progress_percent(phase, fraction)
        log.info("import progress", extra={"job": self.job_arn, "percent": percent, "rows": rows_done})
        self._report(
            StatusUpdate(
                self.job_arn, "CREATE IN_PROGRESS", fields={"_progressPercent": percent, "_recordsProcessed": rows_done}
            )
        )
