"""Batch jobs: from a ``BATCH_INFERENCE`` job record to one ``<input-name>.out`` per input file and a status.

Runs on the jobs platform's worker thread (ADR 0011). Statuses: the job goes CREATE IN_PROGRESS (printed
"IN PROGRESS"), reports its progress (``_linesProcessed`` / ``_linesTotal``) while it runs, and ends ACTIVE
only once every output file is in place — or CREATE FAILED with a failureReason (a path that cannot be read,
the guide's limits, a model that can't be loaded or whose recipe batch inference doesn't accept). A line that
cannot be answered gets an error in its output line; the job goes on (ADR 0016).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tailor_batch.adapters import JobLimit, RedisReader, Staging, count_lines, input_files, read_lines
from tailor_batch.domain.inference import JobSettings, answer_lines, encode_ids
from tailor_batch.domain.lines import (
    DEFAULT_RESULTS,
    MAX_RECORDS_PER_FILE,
    RECIPE_TYPES,
    InferenceLine,
    LineError,
    check_inputs,
    error_line,
    output_name,
    parse_line,
    parse_object,
)
from tailor_batch.domain.segments import (
    DEFAULT_USERS,
    ITEM_ATTRIBUTE_AFFINITY,
    SegmentLine,
    check_query_count,
    matching_items,
    parse_segment_line,
    rank_users,
    recipe_of,
    segment_line,
)
from tailor_batch.metrics import JOB_DURATION, JOBS, LINES
from tailor_shared import arns, locations, storage
from tailor_shared.errors import PersonalizeError
from tailor_shared.filters import (
    BoundFilter,
    Subject,
    bind_filter_values,
    evaluate_for_user,
    parse_filter_expression,
)
from tailor_shared.jobs import JobRecord, StatusUpdate
from tailor_shared.model_store import ModelStore
from tailor_shared.objectstore import ObjectStore, ObjectStoreError
from tailor_shared.redis_keys import Keys, UserState
from tailor_shared.resource_view import ResourceView
from tailor_shared.resources import ResourceReader, ResourceRecord
from tailor_shared.scoring.answer import state_event_types
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.loader import LoadedModel

log = logging.getLogger(__name__)

Report = Callable[[StatusUpdate], None]
RUNNABLE = ("PENDING", "IN PROGRESS", "CREATE PENDING", "CREATE IN_PROGRESS")
IN_PROGRESS = "CREATE IN_PROGRESS"  # control records it as the batch jobs' "IN PROGRESS"
PROGRESS_EVERY_S = 2.0


class JobFailure(Exception):
    """The job cannot run: CREATE FAILED with this message as its failureReason."""


class BatchJobs:
    def __init__(
        self,
        view: ResourceReader,
        redis_reader: RedisReader,
        prefix: str,
        store: str | os.PathLike[str],
        report: Report,
        chunk: int = 256,
        objects: ObjectStore | None = None,
    ) -> None:
        self._view = view
        self._objects = objects or ObjectStore()
        self._stage: Staging | None = None
        self._redis = redis_reader
        self._prefix = prefix
        self._store = store if isinstance(store, ModelStore) else ModelStore(store)
        self._report = report
        self._chunk = chunk

    # --- the jobs platform's callbacks ---------------------------------------------------------------
    def _current(self, arn: str) -> ResourceRecord | None:
        record = self._view.get(arn)
        if record is None and isinstance(self._view, ResourceView):
            self._view.catch_up()
            record = self._view.get(arn)
        return record

    def finished(self, job: JobRecord) -> bool:
        """Done (ACTIVE / CREATE FAILED) or gone: a redelivered job is skipped."""
        record = self._current(job.resource_arn)
        return record is None or record.body.get("status") not in RUNNABLE

    def run_inference(self, job: JobRecord) -> None:
        self._run(job, "inference", self._inference)

    def run_segment(self, job: JobRecord) -> None:
        self._run(job, "segment", self._segment)

    def _run(self, job: JobRecord, kind: str, work: Callable[[ResourceRecord], int]) -> None:
        """One job of either kind: its locations staged, then CREATE FAILED with the reason or ACTIVE with its
        line counts."""
        record = self._current(job.resource_arn)
        if record is None or record.body.get("status") not in RUNNABLE:
            return
        started = time.perf_counter()
        try:
            with self._staged():
                lines = work(record)
        except JobFailure as err:
            JOBS.labels(kind, "failed").inc()
            log.warning(f"batch {kind} job failed", extra={"job": record.arn, "reason": str(err)})
            self._report(StatusUpdate(record.arn, "CREATE FAILED", str(err)))
            return
        JOBS.labels(kind, "active").inc()
        seconds = time.perf_counter() - started
        JOB_DURATION.labels(kind).observe(seconds)
        log.info(f"batch {kind} job done", extra={"job": record.arn, "lines": lines, "seconds": round(seconds, 3)})
        self._report(StatusUpdate(record.arn, "ACTIVE", fields={"_linesProcessed": lines, "_linesTotal": lines}))

    # --- batch inference -----------------------------------------------------------------------------
    def _local(self, location: str) -> str:
        """A job location as a local path: ``file://`` as it is, ``s3://`` staged on local disk (``Staging``)."""
        try:
            parsed = locations.parse(location)
            if not parsed.is_s3:
                return parsed.key
            assert self._stage is not None, "s3:// locations are read inside _staged()"
            return self._stage.local(location)
        except (locations.InvalidLocation, ObjectStoreError, JobLimit) as err:
            raise JobFailure(str(err)) from None

    @contextlib.contextmanager
    def _staged(self) -> Iterator[None]:
        """A job's ``s3://`` locations on local disk while it runs; its outputs are uploaded before it is ACTIVE."""
        with tempfile.TemporaryDirectory(prefix="tailor-batch-") as work:
            self._stage = Staging(self._objects, Path(work))
            try:
                yield
                try:
                    self._stage.publish()
                except ObjectStoreError as err:
                    raise JobFailure(f"Invalid S3 output path: {err}") from None
            finally:
                self._stage = None

    def _model(self, job: ResourceRecord, types: tuple[str, ...] = RECIPE_TYPES) -> tuple[ResourceRecord, LoadedModel]:
        """The job's solution version and its model, read through the job's own account (ADR 0028 §6)."""
        body = job.body
        arn = str(body.get("solutionVersionArn"))
        version = self._view.get(arn)
        if version is None or version.body.get("status") != "ACTIVE":
            raise JobFailure(f"The solution version {arn} is not ACTIVE")
        try:
            directory = storage.updated_version_dir(self._view, self._store, arn, arns.account_of(job.arn))
            model = LoadedModel(self._store.fetch(directory))
        except Exception as err:  # a missing or broken model directory fails the job, not the worker
            raise JobFailure(f"The model of {arn} could not be loaded: {err}") from None
        if model.recipe_type not in types or model.trend_seconds is not None:
            recipe = model.recipe_arn.rsplit("/", 1)[-1]
            if types == RECIPE_TYPES:
                raise JobFailure(f"You can't get batch recommendations with the {recipe} recipe.")
            raise JobFailure(f"Batch segment jobs need a USER_SEGMENTATION recipe; {recipe} is not one.")
        return version, model

    def _binder(
        self, body: Mapping[str, Any], subject: Subject = Subject.ITEM_ID
    ) -> Callable[[Mapping[str, str]], BoundFilter | None]:
        arn = body.get("filterArn")
        if not arn:
            return lambda values: None
        record = self._view.get(str(arn))
        if record is None or record.resource_type != "filter":
            raise JobFailure(f"The filter {arn} does not exist")
        parsed = parse_filter_expression(str(record.body["filterExpression"]))
        if parsed.subject != subject:
            raise JobFailure(
                f"The filter {arn} filters {parsed.subject.value}s; this job needs a {subject.value} filter"
            )

        @functools.lru_cache(maxsize=1024)
        def bind(values: tuple[tuple[str, str], ...]) -> BoundFilter:
            return bind_filter_values(parsed, dict(values))

        return lambda values: bind(tuple(sorted(values.items())))

    def _inference(self, record: ResourceRecord) -> int:
        body = record.body
        self._report(StatusUpdate(record.arn, IN_PROGRESS))
        source = self._local(str(body["jobInput"]["s3DataSource"]["path"]))
        target = Path(self._local(str(body["jobOutput"]["s3DataDestination"]["path"])))
        files = input_files(source)
        reason = check_inputs([f.stat().st_size for f in files])
        if reason is not None:
            raise JobFailure(reason)
        version, model = self._model(record)
        binder = self._binder(body)
        group = str(version.body.get("datasetGroupArn") or "")
        try:
            keys = storage.group_keys(self._view, self._prefix, group)
        except PersonalizeError as err:
            raise JobFailure(f"The dataset group of the solution version is gone: {err.message}") from None
        index = ItemIndex(list(model.item_ids), metadata=self._redis.item_metadata(keys, list(model.item_ids)))
        config = body.get("batchInferenceJobConfig") or {}
        exploration = config.get("itemExplorationConfig") if isinstance(config, Mapping) else None
        settings = JobSettings(str(version.arn), int(body.get("numResults") or DEFAULT_RESULTS), exploration or None)
        counts = [count_lines(f) for f in files]
        for f, n in zip(files, counts, strict=True):
            if n > MAX_RECORDS_PER_FILE:
                raise JobFailure(f"{f.name} has {n} records; an input file holds at most {MAX_RECORDS_PER_FILE}")
        total = sum(counts)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise JobFailure(f"Invalid S3 output path: {err}") from None
        progress = _Progress(record.arn, total, self._report)
        encoded = encode_ids(index.item_ids)
        now = time.time()  # one exploration period for the whole job
        source_root = Path(source) if source.endswith("/") else Path(source).parent
        for path in files:
            out = target / output_name(path.relative_to(source_root).as_posix().replace("/", "_"))
            tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                chunk: list[tuple[InferenceLine | None, str]] = []
                for _number, text in read_lines(path):
                    chunk.append(_parse(text, model.recipe_type))
                    if len(chunk) >= self._chunk:
                        answered = self._answer(model, index, keys, chunk, binder, settings, now, encoded)
                        handle.writelines(f"{line}\n" for line in answered)
                        progress.add(len(chunk))
                        chunk = []
                if chunk:
                    answered = self._answer(model, index, keys, chunk, binder, settings, now, encoded)
                    handle.writelines(f"{line}\n" for line in answered)
                    progress.add(len(chunk))
            os.replace(tmp, out)
            if not out.is_file():
                raise JobFailure(f"Invalid S3 output path: {out} could not be written")
        return total

    # --- batch segments ------------------------------------------------------------------------------
    def _segment(self, record: ResourceRecord) -> int:
        body = record.body
        self._report(StatusUpdate(record.arn, IN_PROGRESS))
        source = self._local(str(body["jobInput"]["s3DataSource"]["path"]))
        target = Path(self._local(str(body["jobOutput"]["s3DataDestination"]["path"])))
        files = input_files(source)
        reason = check_inputs([f.stat().st_size for f in files])
        if reason is not None:
            raise JobFailure(reason)
        version, model = self._model(record, ("USER_SEGMENTATION",))
        recipe = recipe_of(model.recipe_arn)
        binder = self._binder(body, Subject.USER_ID)
        group = str(version.body.get("datasetGroupArn") or "")
        try:
            keys = storage.group_keys(self._view, self._prefix, group)
        except PersonalizeError as err:
            raise JobFailure(f"The dataset group of the solution version is gone: {err.message}") from None
        parsed: list[tuple[Path, list[tuple[SegmentLine | None, str]]]] = []
        for path in files:
            texts = [text for _, text in read_lines(path)]
            reason = check_query_count(recipe, len(texts), path.name)
            if reason is not None:
                raise JobFailure(reason)
            parsed.append((path, [_parse_segment(text, recipe) for text in texts]))
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise JobFailure(f"Invalid S3 output path: {err}") from None
        items = list(model.item_ids)
        metadata = self._redis.item_metadata(keys, items) if recipe == ITEM_ATTRIBUTE_AFFINITY else {}
        item_row = {item: k for k, item in enumerate(items)}
        outputs: list[list[str]] = [[text for _, text in lines] for _, lines in parsed]
        queries: list[npt.NDArray[np.int64]] = []
        bounds: list[BoundFilter | None] = []
        owners: list[tuple[int, int, SegmentLine]] = []
        for f, (_, lines) in enumerate(parsed):
            for n, (line, _) in enumerate(lines):
                if line is None:
                    continue
                try:
                    bound = binder(line.filter_values)
                except PersonalizeError as err:
                    outputs[f][n] = error_line(line.raw, err.message)
                    continue
                if line.item_id is not None:
                    row = item_row.get(line.item_id)
                    if row is None:
                        outputs[f][n] = error_line(
                            line.raw, f"The item {line.item_id} was not in the solution version's training data"
                        )
                        continue
                    rows = np.asarray([row], dtype=np.int64)
                else:
                    rows = matching_items(line.conditions, items, metadata)
                    if rows.size == 0:
                        outputs[f][n] = error_line(
                            line.raw, "No item of the solution version's training data has these item attributes"
                        )
                        continue
                queries.append(rows)
                bounds.append(bound)
                owners.append((f, n, line))
        total_lines = sum(len(lines) for _, lines in parsed)
        n_users = len(model.user_ids)
        last = [time.monotonic()]

        def progress(scored: int) -> None:
            if time.monotonic() - last[0] >= PROGRESS_EVERY_S and scored < n_users:
                last[0] = time.monotonic()
                fields = {
                    "_linesProcessed": 0,
                    "_linesTotal": total_lines,
                    "_usersScored": scored,
                    "_usersTotal": n_users,
                }
                log.info("batch segment progress", extra={"job": record.arn, **fields})
                self._report(StatusUpdate(record.arn, IN_PROGRESS, fields=fields))

        allowed = self._user_filter(model.user_ids, bounds, keys)
        num_results = int(body.get("numResults") or DEFAULT_USERS)
        segments = rank_users(model, queries, num_results, self._chunk, allowed, progress)
        for (f, n, line), users in zip(owners, segments, strict=True):
            outputs[f][n] = segment_line(line.raw, recipe, users)
        LINES.inc(total_lines)
        source_root = Path(source) if source.endswith("/") else Path(source).parent
        for (path, _), texts in zip(parsed, outputs, strict=True):
            out = target / output_name(path.relative_to(source_root).as_posix().replace("/", "_"))
            tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
            tmp.write_text("".join(f"{text}\n" for text in texts), encoding="utf-8")
            os.replace(tmp, out)
            if not out.is_file():
                raise JobFailure(f"Invalid S3 output path: {out} could not be written")
        return total_lines

    def _user_filter(
        self, user_ids: Sequence[str], bounds: Sequence[BoundFilter | None], keys: Keys
    ) -> Callable[[int, int], npt.NDArray[np.bool_] | None]:
        """Which users may be in each query's segment: the job's user filter (``EXCLUDE UserID WHERE Users.…``),
        bound with each line's filterValues, over the users' Users rows and interactions as the runtime reads them."""
        distinct = list({id(b): b for b in bounds if b is not None}.values())
        if not distinct:
            return lambda start, stop: None
        column = {id(b): k for k, b in enumerate(distinct)}
        types, wildcard = state_event_types(*distinct)

        def allowed(start: int, stop: int) -> npt.NDArray[np.bool_]:
            states = self._redis.user_states(keys, list(user_ids[start:stop]), types, wildcard)
            per_filter = np.asarray(
                [[evaluate_for_user(b, s.metadata, user_interactions=s.windows) for b in distinct] for s in states],
                dtype=bool,
            ).reshape(stop - start, len(distinct))
            mask = np.ones((stop - start, len(bounds)), dtype=bool)
            for q, b in enumerate(bounds):
                if b is not None:
                    mask[:, q] = per_filter[:, column[id(b)]]
            return mask

        return allowed

    def _answer(
        self,
        model: LoadedModel,
        index: ItemIndex,
        keys: Keys,
        chunk: list[tuple[InferenceLine | None, str]],
        binder: Callable[[Mapping[str, str]], BoundFilter | None],
        settings: JobSettings,
        now: float,
        encoded: Sequence[str],
    ) -> list[str]:
        out: list[str | None] = [None] * len(chunk)
        good: list[tuple[int, InferenceLine, BoundFilter | None]] = []
        for i, (line, text) in enumerate(chunk):
            if line is None:
                out[i] = text  # the parse error's line
                continue
            try:
                good.append((i, line, binder(line.filter_values)))
            except PersonalizeError as err:
                out[i] = error_line(line.raw, err.message)
        if good:
            bounds = [b for _, _, b in good]
            states: list[UserState] = []
            # One state read per filter shape; usually one filter for the whole job.
            types, wildcard = state_event_types(*{id(b): b for b in bounds if b is not None}.values())
            users = [line.user_id for _, line, _ in good]
            known = [u for u in users if u is not None]
            read = iter(self._redis.user_states(keys, known, types, wildcard)) if known else iter(())
            for u in users:
                states.append(next(read) if u is not None else UserState([], {}, frozenset(), {}))
            answered = answer_lines(model, index, [line for _, line, _ in good], states, bounds, settings, now, encoded)
            for (i, _, _), text in zip(good, answered, strict=True):
                out[i] = text
        LINES.inc(len(chunk))
        return [text for text in out if text is not None]


def _parse_segment(text: str, recipe: str) -> tuple[SegmentLine | None, str]:
    """(the line's query, its text) or (None, its error line)."""
    try:
        obj = parse_object(text)
    except LineError as err:
        return None, error_line(text, str(err))
    try:
        return parse_segment_line(obj, recipe), text
    except LineError as err:
        return None, error_line(obj, str(err))


def _parse(text: str, recipe_type: str) -> tuple[InferenceLine | None, str]:
    """(the line's request, "") or (None, its error line)."""
    try:
        obj = parse_object(text)
    except LineError as err:
        return None, error_line(text, str(err))
    try:
        return parse_line(obj, recipe_type), ""
    except LineError as err:
        return None, error_line(obj, str(err))


class _Progress:
    def __init__(self, arn: str, total: int, report: Report) -> None:
        self._arn = arn
        self._total = total
        self._report = report
        self._done = 0
        self._last = time.monotonic()

    def add(self, n: int) -> None:
        self._done += n
        if time.monotonic() - self._last >= PROGRESS_EVERY_S and self._done < self._total:
            self._last = time.monotonic()
            log.info("batch inference progress", extra={"job": self._arn, "lines": self._done, "total": self._total})
            self._report(
                StatusUpdate(self._arn, IN_PROGRESS, fields={"_linesProcessed": self._done, "_linesTotal": self._total})
            )
