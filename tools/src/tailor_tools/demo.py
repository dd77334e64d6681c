"""``tailor demo``: the whole Personalize flow against the local stack, with progress bars.

Creates a dataset group, schemas and datasets; imports a catalogue and interaction history; trains
user-personalization-v2, SIMS and popularity-count; deploys campaigns; creates a filter and a promotion;
prints a user's recommendations; sends live PutEvents for that user; prints them again and how long the
change took. Default data is generated (``tailor_tools.synthetic``); ``--data`` takes a MovieLens folder.
"""

from __future__ import annotations

import csv
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from tqdm import tqdm

from tailor_shared.config import DEFAULT_PORTS
from tailor_shared.jobs import StatusUpdate, job_status_topic
from tailor_shared.kafka import kafka_config
from tailor_shared.schemas import avro_record
from tailor_shared.tls import TlsSettings
from tailor_tools import synthetic
from tailor_tools.client import Client

ROLE = "arn:aws:iam::000000000000:role/TailorDemo"
RECIPES = {
    "user-personalization": "arn:aws:personalize:::recipe/aws-user-personalization-v2",
    "sims": "arn:aws:personalize:::recipe/aws-sims",
    "popularity": "arn:aws:personalize:::recipe/aws-popularity-count",
}


@dataclass
class DemoData:
    items_csv: Path
    interactions_csv: Path
    items_schema: dict[str, Any]
    interactions_schema: dict[str, Any]
    category_field: str
    event_type: str  # the type of the live events
    exclude_type: str  # the filter hides items the user did this to
    users: list[str]
    items: dict[str, str]  # item -> category
    rows: int


@dataclass
class Timings:
    steps: list[tuple[str, float]] = field(default_factory=list)

    def step(self, name: str, started: float) -> None:
        self.steps.append((name, time.monotonic() - started))


def synthetic_data(workdir: Path, seed: int = 7, n_users: int = 400, n_items: int = 600) -> DemoData:
    data = synthetic.generate(n_users=n_users, n_items=n_items, seed=seed)
    workdir.mkdir(parents=True, exist_ok=True)
    items_csv, inter_csv = workdir / "items.csv", workdir / "interactions.csv"
    items_csv.write_text(synthetic.to_csv(data.items))
    inter_csv.write_text(synthetic.to_csv(data.interactions))
    return DemoData(
        items_csv,
        inter_csv,
        synthetic.ITEMS_SCHEMA,
        synthetic.INTERACTIONS_SCHEMA,
        "CATEGORY",
        "click",
        "purchase",
        [str(u["USER_ID"]) for u in data.users],
        data.item_category,
        len(data.interactions),
    )


def movielens_data(folder: Path, workdir: Path) -> DemoData:
    """ml-latest-small (ratings.csv + movies.csv) or ml-100k (u.data + u.item), converted to Personalize CSV."""
    workdir.mkdir(parents=True, exist_ok=True)
    items: dict[str, str] = {}
    rows: list[tuple[str, str, str, int]] = []
    if (folder / "ratings.csv").exists():
        with (folder / "movies.csv").open(newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                items[r["movieId"]] = r["genres"].replace("(no genres listed)", "none")
        with (folder / "ratings.csv").open(newline="") as f:
            rows = [(r["userId"], r["movieId"], "rating", int(r["timestamp"])) for r in csv.DictReader(f)]
    elif (folder / "u.data").exists():
        genres = [g.split("|")[0] for g in (folder / "u.genre").read_text(encoding="latin-1").split("\n") if g]
        for line in (folder / "u.item").read_text(encoding="latin-1").splitlines():
            parts = line.split("|")
            flags = parts[5:]
            items[parts[0]] = "|".join(g for g, f in zip(genres, flags, strict=False) if f == "1") or "unknown"
        for line in (folder / "u.data").read_text().splitlines():
            u, i, _rating, ts = line.split("\t")
            rows.append((u, i, "rating", int(ts)))
    else:
        raise SystemExit(f"{folder} is neither ml-latest-small (ratings.csv) nor ml-100k (u.data)")
    items_csv, inter_csv = workdir / "items.csv", workdir / "interactions.csv"
    with items_csv.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ITEM_ID", "GENRES"])
        w.writerows(items.items())
    with inter_csv.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"])
        w.writerows(rows)
    items_schema = avro_record("Items", "ITEM_ID", {"name": "GENRES", "type": "string", "categorical": True})
    users = sorted({r[0] for r in rows}, key=lambda u: (len(u), u))
    return DemoData(
        items_csv,
        inter_csv,
        items_schema,
        synthetic.INTERACTIONS_SCHEMA,
        "GENRES",
        "rating",
        "rating",
        users,
        {k: v.split("|")[0] for k, v in items.items()},
        len(rows),
    )


class TrainingProgress:
    """The trainer's latest epoch report per solution version, tailed from ``<prefix>.job-status`` (the
    ``_progress`` field of its CREATE IN_PROGRESS reports, which Describe responses never show)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._consumer = Consumer(
            {
                **kafka_config(bootstrap),
                "group.id": f"demo-progress-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        topic = job_status_topic(prefix)
        _low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        self._consumer.assign([TopicPartition(topic, 0, high)])  # only what is reported from now on
        self._latest: dict[str, dict[str, Any]] = {}
        self.epochs_seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="training-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            try:
                update = StatusUpdate.parse(msg.value() or b"{}")
            except ValueError:
                continue
            progress = (update.get("fields") or {}).get("_progress")
            if isinstance(progress, dict):
                arn = str(update.get("resourceArn"))
                with self._lock:
                    self._latest[arn] = progress
                    self.epochs_seen[arn] = self.epochs_seen.get(arn, 0) + 1

    def latest(self, arn: str) -> dict[str, Any] | None:
        with self._lock:
            return self._latest.get(arn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def _show_progress(bar: tqdm[Any], progress: dict[str, Any], label: str, interactive: bool) -> None:
    """Epoch ``n`` of ``maxEpochs`` with the latest loss, as a bar (terminal) or a line per epoch."""
    epoch, total = int(progress.get("epoch") or 0), int(progress.get("maxEpochs") or 0)
    loss = float(progress.get("loss") or 0.0)
    stage = str(progress.get("stage") or "train")
    if total and bar.total != total:
        bar.reset(total=total)
        bar.bar_format = "{desc}: {n_fmt}/{total_fmt} epochs |{bar}| {postfix} [{elapsed}<{remaining}]"
    bar.n = min(epoch, total) if total else epoch
    bar.set_postfix_str(f"{stage}, loss {loss:.4f}")
    if not interactive:
        print(f"{label}: {stage} epoch {epoch}/{total}, loss {loss:.4f}", flush=True)


def _wait(
    client: Client,
    op: str,
    key: str,
    label: str,
    timeout: float = 1800,
    progress: TrainingProgress | None = None,
    **req: str,
) -> dict[str, Any]:
    """Poll a Describe call until the resource settles, showing each status it passes through (a live
    spinner with the elapsed time on a terminal, one line per status otherwise) and, for training with
    ``progress``, the trainer's epochs and loss."""
    interactive = sys.stdout.isatty()
    bar = tqdm(total=1, desc=label, bar_format="{desc}: {postfix} [{elapsed}]", disable=not interactive)
    started = time.monotonic()
    last = None
    last_progress: dict[str, Any] | None = None
    arn = next(iter(req.values()), "")
    try:
        while True:
            res: dict[str, Any] = client.call(op, **req)[key]
            status = str(res.get("status"))
            current = progress.latest(arn) if progress is not None else None
            if current is not None and current != last_progress:
                _show_progress(bar, current, label, interactive)
                last_progress = current
            if status != last:
                bar.set_postfix_str(status)
                if not interactive:
                    print(f"{label}: {status} ({time.monotonic() - started:.1f}s)", flush=True)
                last = status
            if status in ("ACTIVE", "CREATE FAILED", "CREATE STOPPED"):
                bar.n = bar.total
                if status != "ACTIVE":
                    raise SystemExit(f"{label}: {status}: {res.get('failureReason')}")
                return res
            if time.monotonic() - started > timeout:
                raise SystemExit(f"{label}: still {status} after {timeout:.0f}s")
            time.sleep(0.25)
            bar.refresh()
    finally:
        bar.close()


def _print_recs(title: str, items: list[dict[str, Any]], categories: dict[str, str]) -> None:
    print(f"\n{title}")
    print(f"  {'#':>2}  {'item':<14} {'category':<12} {'score':>9}  promotion")
    for n, it in enumerate(items, 1):
        score = f"{it['score']:.5f}" if "score" in it else "-"
        category = categories.get(it["itemId"], "?")
        print(f"  {n:>2}  {it['itemId']:<14} {category:<12} {score:>9}  {it.get('promotionName', '')}")


def _via_gateway(
    endpoint: str,
    request: dict[str, Any],
    categories: dict[str, str],
    say: Callable[[str], None],
    ca_file: str | None = None,
) -> None:
    """The same GetRecommendations with boto3, unchanged, through the AWS gateway (SigV4 with the development
    identity, docs/specs/auth.md)."""
    import boto3

    from tailor_tools.identity import default_credential

    dev = default_credential()
    runtime = boto3.client(
        "personalize-runtime",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=dev.access_key_id,
        aws_secret_access_key=dev.secret_access_key,
        verify=ca_file,  # None: the system's roots (plain HTTP ignores it)
    )
    try:
        reply = runtime.get_recommendations(**request)
    finally:
        runtime.close()
    say(f"\nThe same request with boto3 through the AWS gateway ({endpoint}):")
    say(f"  boto3.client('personalize-runtime', endpoint_url='{endpoint}', region_name='us-east-1',")
    # The key id only: the secret stays in the identity file (<state>/identity/credentials.yaml), never on screen.
    say(f"               aws_access_key_id='{dev.access_key_id}', aws_secret_access_key=<identity/credentials.yaml>)")
    _print_recs("runtime.get_recommendations(...) via the gateway", reply["itemList"], categories)


def _ranked(items: list[dict[str, Any]]) -> list[str]:
    return [i["itemId"] for i in items if "promotionName" not in i]


@dataclass(frozen=True)
class Outcome:
    """What the demo showed, for the end-to-end test and the summary."""

    timings: Timings
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    changed_after_s: float | None
    clicked_category: str
    categories: dict[str, str]
    epoch_reports: dict[str, int] = field(default_factory=dict)  # per recipe, when training progress was shown


def run(
    data_dir: Path | None,
    workdir: Path,
    addresses: dict[str, str] | None = None,
    say: Callable[[str], None] = print,
    size: tuple[int, int] = (400, 600),
    status_topic: tuple[str, str] | None = None,
    gateway: str | None = None,
    tls: TlsSettings | None = None,
) -> Outcome:
    """``addresses``: gRPC address per API ("control", "events", "runtime"); default the local ports.
    ``status_topic``: (Kafka bootstrap, topic prefix) to show training epochs from the trainer's reports.
    ``gateway``: the AWS gateway's URL; the demo then asks for the same recommendations with boto3 through it.
    ``tls``: the CA that the services' certificates are verified against (a ``--tls`` stack, ADR 0027)."""
    timings = Timings()
    t0 = time.monotonic()
    data = movielens_data(data_dir, workdir) if data_dir else synthetic_data(workdir, n_users=size[0], n_items=size[1])
    say(f"data: {data.rows:,} interactions, {len(data.items):,} items, {len(data.users):,} users")
    where = {
        "control": f"127.0.0.1:{DEFAULT_PORTS['control'][0]}",
        "events": f"127.0.0.1:{DEFAULT_PORTS['ingest'][0]}",
        "runtime": f"127.0.0.1:{DEFAULT_PORTS['runtime'][0]}",
        **(addresses or {}),
    }
    control = Client(where["control"], "control", tls=tls)
    events = Client(where["events"], "events", tls=tls)
    runtime = Client(where["runtime"], "runtime", tls=tls)
    tag = uuid.uuid4().hex[:6]

    started = time.monotonic()
    dsg = control.call("CreateDatasetGroup", name=f"tailor-demo-{tag}")["datasetGroupArn"]
    _wait(control, "DescribeDatasetGroup", "datasetGroup", "dataset group", datasetGroupArn=dsg)
    arns: dict[str, str] = {}
    for kind, schema in (("Interactions", data.interactions_schema), ("Items", data.items_schema)):
        s = control.call("CreateSchema", name=f"demo-{tag}-{kind.lower()}", schema=json.dumps(schema))["schemaArn"]
        arns[kind] = control.call(
            "CreateDataset", name=f"demo-{tag}-{kind.lower()}", schemaArn=s, datasetGroupArn=dsg, datasetType=kind
        )["datasetArn"]
        _wait(control, "DescribeDataset", "dataset", f"{kind} dataset", datasetArn=arns[kind])
    tracker = control.call("CreateEventTracker", name=f"demo-{tag}-tracker", datasetGroupArn=dsg)
    _wait(control, "DescribeEventTracker", "eventTracker", "event tracker", eventTrackerArn=tracker["eventTrackerArn"])
    timings.step("dataset group, schemas, datasets, tracker", started)

    started = time.monotonic()
    for kind, path in (("Items", data.items_csv), ("Interactions", data.interactions_csv)):
        job = control.call(
            "CreateDatasetImportJob",
            jobName=f"demo-{tag}-{kind.lower()}",
            datasetArn=arns[kind],
            dataSource={"dataLocation": path.resolve().as_uri()},
            roleArn=ROLE,
            importMode="FULL",
        )["datasetImportJobArn"]
        _wait(control, "DescribeDatasetImportJob", "datasetImportJob", f"import {kind}", datasetImportJobArn=job)
    timings.step("bulk import", started)

    started = time.monotonic()
    versions: dict[str, str] = {}
    epochs: dict[str, int] = {}
    progress = TrainingProgress(*status_topic) if status_topic else None
    for short, recipe in RECIPES.items():
        sol = control.call(
            "CreateSolution",
            name=f"demo-{tag}-{short}",
            recipeArn=recipe,
            datasetGroupArn=dsg,
            performAutoTraining=False,
        )["solutionArn"]
        _wait(control, "DescribeSolution", "solution", f"solution {short}", solutionArn=sol)
        versions[short] = control.call("CreateSolutionVersion", solutionArn=sol)["solutionVersionArn"]
    for short, sv in versions.items():
        res = _wait(
            control, "DescribeSolutionVersion", "solutionVersion", f"train {short}", progress=progress,
            solutionVersionArn=sv,
        )  # fmt: skip
        if progress is not None:
            epochs[short] = progress.epochs_seen.get(sv, 0)
        metrics = control.call("GetSolutionMetrics", solutionVersionArn=sv).get("metrics", {})
        ndcg = metrics.get("normalized_discounted_cumulative_gain_at_10")
        say(f"  {short}: {res['status']}" + (f", NDCG@10 {ndcg:.4f}" if ndcg is not None else ""))
    if progress is not None:
        progress.close()
    timings.step("training (3 recipes)", started)

    started = time.monotonic()
    campaigns = {
        short: control.call("CreateCampaign", name=f"demo-{tag}-{short}", solutionVersionArn=sv)["campaignArn"]
        for short, sv in versions.items()
    }
    for short, arn in campaigns.items():
        _wait(control, "DescribeCampaign", "campaign", f"campaign {short}", campaignArn=arn)
    flt = control.call(
        "CreateFilter",
        name=f"demo-{tag}-no-repeats",
        datasetGroupArn=dsg,
        filterExpression=f'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("{data.exclude_type}")',
    )["filterArn"]
    promo = control.call(
        "CreateFilter",
        name=f"demo-{tag}-promo",
        datasetGroupArn=dsg,
        filterExpression=f"INCLUDE ItemID WHERE Items.{data.category_field} IN ($CATEGORIES)",
    )["filterArn"]
    for arn, label in ((flt, "filter"), (promo, "promotion filter")):
        _wait(control, "DescribeFilter", "filter", label, filterArn=arn)
    timings.step("campaigns and filters", started)

    user = data.users[0]
    up = campaigns["user-personalization"]
    promo_category = sorted(set(data.items.values()))[-1]
    request: dict[str, Any] = {
        "campaignArn": up,
        "userId": user,
        "numResults": 10,
        "filterArn": flt,
        "promotions": [
            {
                "name": "featured",
                "percentPromotedItems": 20,
                "filterArn": promo,
                "filterValues": {"CATEGORIES": json.dumps(promo_category)},
            }
        ],
    }
    before = runtime.call("GetRecommendations", **request)["itemList"]
    _print_recs(
        f"Recommendations for {user} (filter: no {data.exclude_type}d items; promotion: {promo_category})",
        before,
        data.items,
    )
    sims_item = before[0]["itemId"]
    similar = runtime.call("GetRecommendations", campaignArn=campaigns["sims"], itemId=sims_item, numResults=5)
    _print_recs(f"Items similar to {sims_item} (SIMS)", similar["itemList"], data.items)
    popular = runtime.call("GetRecommendations", campaignArn=campaigns["popularity"], userId=user, numResults=5)
    _print_recs("Most popular (popularity-count)", popular["itemList"], data.items)

    # Live events: the user suddenly clicks through items of a category they never touched.
    seen_categories = {data.items.get(i["itemId"]) for i in before}
    fresh = next((c for c in sorted(set(data.items.values())) if c not in seen_categories), promo_category)
    counts: dict[str, int] = {}
    with data.interactions_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            if data.items.get(row["ITEM_ID"]) == fresh:
                counts[row["ITEM_ID"]] = counts.get(row["ITEM_ID"], 0) + 1
    clicks = sorted(counts, key=lambda i: (-counts[i], i))[:5]
    now = time.time()
    sent = time.monotonic()
    events.call(
        "PutEvents",
        trackingId=tracker["trackingId"],
        userId=user,
        sessionId=f"demo-session-{tag}",
        eventList=[{"eventType": data.event_type, "itemId": i, "sentAt": now + k} for k, i in enumerate(clicks)],
    )
    after = before
    changed_after = None
    while time.monotonic() - sent < 10:
        after = runtime.call("GetRecommendations", **request)["itemList"]
        # Promoted items sit at random slots in every response: compare the model's own ranking.
        if _ranked(after) != _ranked(before):
            changed_after = time.monotonic() - sent
            break
        time.sleep(0.02)
    say(f"\nSent {len(clicks)} live '{data.event_type}' events for {user} on '{fresh}' items: {', '.join(clicks)}")
    _print_recs("Recommendations after the live events", after, data.items)
    if changed_after is None:
        say("\nThe recommendations did not change within 10 s.")
    else:
        say(f"\nThe recommendations changed {changed_after * 1000:.0f} ms after PutEvents returned.")
    timings.steps.append(("event -> changed recommendations", changed_after if changed_after is not None else -1.0))
    if gateway is not None:
        started = time.monotonic()
        _via_gateway(gateway, request, data.items, say, tls.ca_file if tls else None)
        timings.step("the same request with boto3 via the gateway", started)
    timings.step("demo total", t0)
    for c in (control, events, runtime):
        c.close()
    return Outcome(timings, before, after, changed_after, fresh, data.items, epochs)
