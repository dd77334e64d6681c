"""A batch segment job (Item-Affinity) for 1,000 items over 10,000 users: wall time and peak memory (J2, ADR 0018).

    uv run python bench/batch_segments.py                  # 10,000 users, 10,000 items, 1,000 queries, 3 runs
    uv run python bench/batch_segments.py --users 2000     # quicker

The model: Item-Affinity trained by the trainer's own code on the synthetic data (one epoch: the exported graph,
and so the scoring cost, is the one a full training produces), exported once and cached under
.tailor/bench-cache. The world: control and a batch worker as processes under a fresh topic prefix; a dataset
group, a solution and a version whose model directory is that model, reported ACTIVE on the job-status topic as
the trainer would (--model: an existing sequence model relabelled, for a machine too busy to train). Each run is
one CreateBatchSegmentJob over the model's first --queries item ids (items without interactions are not in an
Item-Affinity model) in files of 500 (the guide's limit; numResults 25); wall time from Create to ACTIVE, the
batch process's CPU seconds, and its peak resident memory (VmHWM, which includes the loaded model) are printed;
medians and the worst of the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from harness import install_model, peak_rss_mib, start_service, wait_serving
from runtime_latency import ROOT, _trainer_hash

from tailor_tools import localstack, synthetic
from tailor_tools.client import Client

RECIPE = "arn:aws:personalize:::recipe/aws-item-affinity"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
NUM_RESULTS = 25
PER_FILE = 500  # Item-Affinity's limit of items per input file


def trained_affinity(data: synthetic.SyntheticData, cache: Path) -> Path:
    """Item-Affinity trained by the trainer's code for one epoch, exported once and cached."""
    if (cache / "manifest.json").exists():
        return cache
    from dataclasses import replace

    from tailor_trainer.artifacts import export
    from tailor_trainer.domain import Interactions, train_solution_version
    from tailor_trainer.domain import train as trainer_train

    with contextlib.suppress(KeyError, TypeError):  # a module constant (Final): patched for this process only
        vars(trainer_train)["V2_CONFIG"] = replace(vars(trainer_train)["V2_CONFIG"], max_epochs=1)
    rows = data.interactions
    interactions = Interactions(
        user_id=np.array([r["USER_ID"] for r in rows], dtype=object),
        item_id=np.array([r["ITEM_ID"] for r in rows], dtype=object),
        timestamp=np.array([r["TIMESTAMP"] for r in rows], dtype=np.int64),
        event_type=np.array([r["EVENT_TYPE"] for r in rows], dtype=object),
    )
    started = time.monotonic()
    model = train_solution_version(RECIPE, interactions, None, None, {}, False, "FULL", None, None, 42)
    if cache.exists():
        shutil.rmtree(cache)
    export(model, cache, {"bench": "batch_segments"}, report=False)
    print(f"trained Item-Affinity on {len(rows):,} interactions in {time.monotonic() - started:.0f}s")
    return cache


def relabelled(source: Path, target: Path) -> Path:
    """A copy of a trained sequence model whose manifest says Item-Affinity (USER_SEGMENTATION)."""
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    if manifest.get("modelKind") != "sequence" or not manifest.get("users"):
        raise SystemExit(f"{source} is not a sequence model with a user index")
    print(
        f"scoring with {source.name} ({manifest['recipe']}, hidden {manifest['model'].get('hidden')}) as Item-Affinity"
    )
    manifest.update(recipeArn=RECIPE, recipe="aws-item-affinity", recipeType="USER_SEGMENTATION")
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def model_items(model: Path) -> list[str]:
    """The model's item ids (those with interactions in its training data), in its index order."""
    manifest = json.loads((model / "manifest.json").read_text())
    items: list[str] = json.loads((model / manifest["items"]["index"]).read_text())
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=1_000, help="item ids in the job's input")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--model",
        type=Path,
        help="score with this trained sequence-model directory (e.g. a cached UP-v2 one of the same data) "
        "relabelled Item-Affinity, instead of training one: the same hybrid graph, for a machine too busy to train",
    )
    args = parser.parse_args()

    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    t0 = time.monotonic()
    data = synthetic.generate(n_users=args.users, n_items=args.items, seed=args.seed)
    cache = ROOT / ".tailor" / "bench-cache" / f"affinity-{args.users}u-{args.items}i-s{args.seed}-{_trainer_hash()}"
    workdir = Path(tempfile.mkdtemp(prefix="tailor-bench-segments-"))
    model_path = trained_affinity(data, cache) if args.model is None else relabelled(args.model, workdir / "model")
    prefix = f"bench-seg-{uuid.uuid4().hex[:8]}"
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(workdir / "models"),
    }
    services = {name: start_service(name, env, workdir) for name in ("control", "batch")}
    control: Client | None = None
    try:
        for svc in services.values():
            wait_serving(svc)
        control = Client(services["control"].address, "control")
        name = f"seg-{uuid.uuid4().hex[:6]}"
        group = control.call("CreateDatasetGroup", name=name)["datasetGroupArn"]
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        schema = control.call("CreateSchema", name=name, schema=json.dumps(synthetic.INTERACTIONS_SCHEMA))["schemaArn"]
        dataset = control.call(
            "CreateDataset", name=name, schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        control.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
        solution = control.call(
            "CreateSolution", name=name, recipeArn=RECIPE, datasetGroupArn=group, performAutoTraining=False
        )["solutionArn"]
        control.wait_for("DescribeSolution", "solution", solutionArn=solution)
        version = control.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
        install_model(stack.kafka_bootstrap, prefix, env["TAILOR_MODEL_STORE"], version, model_path)
        control.wait_for("DescribeSolutionVersion", "solutionVersion", solutionVersionArn=version)
        folder = workdir / "in"
        folder.mkdir()
        catalogue = model_items(model_path)
        items = catalogue[: args.queries]  # an item the model lacks would get an error line, not a segment
        files = [f"items-{k // PER_FILE}.json" for k in range(0, len(items), PER_FILE)]  # 500 items a file (L6887)
        for k, file_name in enumerate(files):
            chunk = items[k * PER_FILE : (k + 1) * PER_FILE]
            (folder / file_name).write_text("".join(json.dumps({"itemId": i}) + "\n" for i in chunk))
        batch = services["batch"]
        time.sleep(3.0)  # the worker joins its consumer group
        walls: list[float] = []
        cpus: list[float] = []
        for run in range(args.runs):
            out = workdir / f"out-{run}"
            cpu0 = batch.cpu()
            started = time.monotonic()
            arn = control.call(
                "CreateBatchSegmentJob",
                jobName=f"{name}-{run}",
                solutionVersionArn=version,
                numResults=NUM_RESULTS,
                jobInput={"s3DataSource": {"path": folder.as_uri() + "/"}},
                jobOutput={"s3DataDestination": {"path": out.as_uri() + "/"}},
                roleArn=ROLE,
            )["batchSegmentJobArn"]
            job = control.wait_for(
                "DescribeBatchSegmentJob", "batchSegmentJob", ("ACTIVE", "CREATE FAILED"), 1800, batchSegmentJobArn=arn
            )
            walls.append(time.monotonic() - started)
            cpus.append(batch.cpu() - cpu0)
            if job["status"] != "ACTIVE":
                raise SystemExit(f"the segment job failed: {job.get('failureReason')}")
            lines = [json.loads(x) for f in files for x in (out / f"{f}.out").read_text().splitlines()]
            assert len(lines) == len(items) and all(len(x["output"]["recommendedUsers"]) == NUM_RESULTS for x in lines)
        peak = peak_rss_mib(batch.proc.pid)
        print()
        print(
            f"Item-Affinity, {len(catalogue):,}-item model (of {args.items:,} generated), {args.users:,} users, "
            f"{args.queries:,} item queries, "
            f"numResults {NUM_RESULTS}, {args.runs} runs, {os.cpu_count()} CPUs; load average "
            f"{os.getloadavg()[0]:.2f}"
        )
        print()
        print("| measure | median | worst |")
        print("|---|---:|---:|")
        print(f"| wall, CreateBatchSegmentJob → ACTIVE (s) | {statistics.median(walls):.1f} | {max(walls):.1f} |")
        print(f"| batch process CPU (s) | {statistics.median(cpus):.1f} | {max(cpus):.1f} |")
        print()
        print(f"batch worker peak RSS (VmHWM, model included): {peak:.0f} MiB")
        print(f"\ntotal {time.monotonic() - t0:.0f}s")
    finally:
        if control is not None:
            control.close()
        for svc in services.values():
            svc.stop()
        localstack.purge_prefix(stack, prefix)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
