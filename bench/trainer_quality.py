"""Offline quality of the trainer's recipes against standard baselines, with Personalize's protocol.

For each seed: the guide's user split (90 % train / 10 % test; test users' oldest 90 % as input, newest 10 % as
relevant), the recipes trained through ``train_solution_version`` (which makes that same split from the seed),
and baselines fitted on the same training users: most-popular, item-kNN (cosine), EASE and iALS. Baseline
hyperparameters are chosen on validation users carved from the training users (never on test users), by a
hill-climb on value ladders that ends with every chosen value between two scored neighbours. Prints a
markdown table: mean ± std [min-max] over seeds, and training wall time.

    uv run python bench/trainer_quality.py --dataset ml-100k --seeds 5
    uv run python bench/trainer_quality.py --dataset ml-latest-small --seeds 5 --models up-v2,ease

Data is read in place from ../shared/datasets (or $TAILOR_DATASETS_DIR); nothing is copied.
"""

from __future__ import annotations

import argparse
import copy
import csv
import gzip
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tailor_trainer.domain import Interactions, ItemsTable, UsersTable, train_solution_version
from tailor_trainer.domain.baselines import (
    ease_scorer,
    gram,
    ials_scorer,
    item_knn_scorer,
    ladder_search,
    popularity_scorer,
)
from tailor_trainer.domain.data import PreparedData, item_attribute, prepare
from tailor_trainer.domain.evaluation import (
    EvalSet,
    Scorer,
    evaluate,
    recommend,
    repeat_share,
    split,
)
from tailor_trainer.domain.metrics import METRIC_NAMES
from tailor_trainer.domain.train import OBJECTIVE_WEIGHTS, REFIT_VALIDATION_SHARE, apply_objective, validation_split

ARN = "arn:aws:personalize:::recipe/"
NDCG10 = "normalized_discounted_cumulative_gain_at_10"
RECIPES = {
    "up-v2": "aws-user-personalization-v2",
    "up": "aws-user-personalization",
    "pr-v2": "aws-personalized-ranking-v2",
    "pr": "aws-personalized-ranking",
    "similar-items": "aws-similar-items",
    "sims": "aws-sims",
    "popularity-count": "aws-popularity-count",
}
BASELINES = ("most-popular", "item-knn", "ease", "ials")
#: Issue Q2's goal: UP-v2's NDCG@10 at least this multiple of the best tuned baseline's, on every split.
GOAL_RATIO = 1.15
SHORT = {
    "coverage": "cov",
    "mean_reciprocal_rank_at_25": "MRR@25",
    "normalized_discounted_cumulative_gain_at_5": "NDCG@5",
    "normalized_discounted_cumulative_gain_at_10": "NDCG@10",
    "normalized_discounted_cumulative_gain_at_25": "NDCG@25",
    "precision_at_5": "P@5",
    "precision_at_10": "P@10",
    "precision_at_25": "P@25",
}
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def datasets_dir() -> Path:
    env = os.environ.get("TAILOR_DATASETS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def _year(text: str) -> float:
    return float(text) if text.isdigit() else float("nan")


#: Taobao's sample has 55,368 items for 84,475 events (two thirds seen once); items seen fewer times are dropped
#: so that the dense baselines (EASE, item-kNN: n x n) fit in memory, for every model alike.
TAOBAO_MIN_ITEM_EVENTS = 3
TAOBAO_EVENT_TYPES = {"pv": "View", "cart": "AddToCart", "fav": "Favorite", "buy": "Purchase"}
DATASETS = ("ml-100k", "ml-latest-small", "amazon-musical-instruments-5core", "taobao-userbehavior-sample")


def load_users(name: str) -> UsersTable | None:
    """ml-100k's Users dataset: AGE (numeric), GENDER and OCCUPATION (categorical); the zip code is left out (a
    high-cardinality string that says little per value). The other data sets have no users file."""
    if name != "ml-100k":
        return None
    rows = [line.split("|") for line in (datasets_dir() / name / "u.user").read_text().splitlines() if line]
    return UsersTable(
        np.asarray([r[0] for r in rows], dtype=object),
        {
            "AGE": np.asarray([int(r[1]) for r in rows], dtype=np.int64),
            "GENDER": np.asarray([r[2] for r in rows], dtype=object),
            "OCCUPATION": np.asarray([r[3] for r in rows], dtype=object),
        },
        frozenset({"GENDER", "OCCUPATION"}),
    )


def load(name: str) -> tuple[Interactions, ItemsTable | None]:
    """Ratings as interactions (all positive, as Personalize treats them) and items with GENRES and YEAR; the
    Amazon reviews (no item metadata); Taobao's events (all four types) with the item's CATEGORY_ID."""
    base = datasets_dir() / name
    if name == "amazon-musical-instruments-5core":
        with gzip.open(base / "reviews_Musical_Instruments_5.json.gz", "rt", encoding="utf-8") as f:
            reviews = [json.loads(line) for line in f]
        return (
            Interactions(
                np.asarray([r["reviewerID"] for r in reviews], dtype=object),
                np.asarray([r["asin"] for r in reviews], dtype=object),
                np.asarray([r["unixReviewTime"] for r in reviews], dtype=np.int64),
                None,
                np.asarray([r["overall"] for r in reviews], dtype=np.float64),
            ),
            None,
        )
    if name == "taobao-userbehavior-sample":
        with gzip.open(base / "UserBehavior_head84475.csv.gz", "rt") as f:
            rows = list(csv.reader(f))
        counts: dict[str, int] = {}
        for r in rows:
            counts[r[1]] = counts.get(r[1], 0) + 1
        rows = [r for r in rows if counts[r[1]] >= TAOBAO_MIN_ITEM_EVENTS]
        category = {r[1]: r[2] for r in rows}
        return (
            Interactions(
                np.asarray([r[0] for r in rows], dtype=object),
                np.asarray([r[1] for r in rows], dtype=object),
                np.asarray([int(r[4]) for r in rows], dtype=np.int64),
                np.asarray([TAOBAO_EVENT_TYPES[r[3]] for r in rows], dtype=object),
            ),
            ItemsTable(
                np.asarray(list(category), dtype=object),
                {"CATEGORY_ID": np.asarray(list(category.values()), dtype=object)},
                frozenset({"CATEGORY_ID"}),
            ),
        )
    ids: list[str] = []
    genres: list[str] = []
    years: list[float] = []
    if name == "ml-100k":
        raw = np.loadtxt(base / "u.data", dtype=np.int64)
        users, items, ts, rating = raw[:, 0].astype(str), raw[:, 1].astype(str), raw[:, 3], raw[:, 2].astype(float)
        for line in (base / "u.item").read_text(encoding="latin-1").splitlines():
            parts = line.split("|")
            ids.append(parts[0])
            genres.append("|".join(g for g, flag in zip(ML100K_GENRES, parts[5:24], strict=False) if flag == "1"))
            years.append(_year(parts[2][-4:]))
    elif name == "ml-latest-small":
        with (base / "ratings.csv").open(newline="") as f:
            rows = list(csv.reader(f))[1:]
        users = np.asarray([r[0] for r in rows])
        items = np.asarray([r[1] for r in rows])
        rating = np.asarray([float(r[2]) for r in rows])
        ts = np.asarray([int(r[3]) for r in rows], dtype=np.int64)
        with (base / "movies.csv").open(newline="", encoding="utf-8") as f:
            for movie_id, title, genre in list(csv.reader(f))[1:]:
                ids.append(movie_id)
                genres.append("" if genre == "(no genres listed)" else genre)
                title = title.strip()
                years.append(_year(title[-5:-1]) if title.endswith(")") else float("nan"))
    else:
        raise SystemExit(f"unknown dataset {name}")
    inter = Interactions(users.astype(object), items.astype(object), ts.astype(np.int64), None, rating)
    table = ItemsTable(
        np.asarray(ids, dtype=object),
        {"GENRES": np.asarray(genres, dtype=object), "YEAR": np.asarray(years)},
        frozenset({"GENRES"}),
        None,
    )
    return inter, table


#: Each baseline's settings as ordered ladders, searched on validation users by ``ladder_search`` from the best
#: of its start points: it stops only where each chosen value beat both its neighbours, so a choice inside the ladder
#: is inside what was searched; a choice at an end is flagged in the note (the ladder must then be widened).
#: item-kNN's k is capped at the catalogue (n - 1 = every neighbour, the natural end).
EASE_L2 = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5)
BASELINE_LADDERS: dict[str, tuple[Callable[..., Scorer], dict[str, tuple[Any, ...]], list[dict[str, Any]]]] = {
    "item-knn": (
        item_knn_scorer,
        {"neighbours": (10, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400)},
        [{"neighbours": 200}],
    ),
    "ease": (ease_scorer, {"l2": EASE_L2}, [{"l2": 200.0}]),
    "ials": (
        ials_scorer,
        {
            "factors": (8, 16, 32, 64, 128, 256, 512, 1024, 2048),
            "alpha": (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0),
            "l2": (0.001, 0.01, 0.1, 1.0, 5.0, 20.0, 100.0, 500.0, 2000.0, 10000.0),
        },
        # The former fixed grid's eight corners: the climb starts from the best of them on validation.
        [{"factors": f, "alpha": a, "l2": r} for f in (64, 128) for a in (2.0, 10.0) for r in (0.1, 5.0)],
    ),
}
IALS_EPOCHS = 8


def tune_baseline(name: str, train: PreparedData, seed: int, exclude: bool) -> tuple[dict[str, Any], list[str], int]:
    """A baseline's settings chosen on validation users carved from the training users (as the trainer carves
    them, the same share: the baselines too are then fitted on all training users): the chosen settings, those
    chosen at an end of their ladder, and how many settings were scored."""
    fit, ladders, starts = BASELINE_LADDERS[name]
    vtrain, vset = validation_split(train, seed, exclude, REFIT_VALIDATION_SHARE)
    extra: dict[str, Any] = {"gram_matrix": gram(vtrain)} if fit is ease_scorer else {}
    if fit is ials_scorer:
        extra["epochs"] = IALS_EPOCHS
    if fit is item_knn_scorer:  # k >= n - 1 keeps every neighbour: one rung for all of them
        cap = train.n_items - 1
        ladders = {"neighbours": tuple(sorted({min(k, cap) for k in ladders["neighbours"]}))}
    scored = 0

    def score(params: dict[str, Any]) -> float:
        nonlocal scored
        scored += 1
        return evaluate(fit(vtrain, **params, **extra), vset, exclude)[NDCG10]

    rungs = [{n: ladders[n].index(min(ladders[n], key=lambda v: abs(v - s[n]))) for n in ladders} for s in starts]
    params, _, at_end = ladder_search(ladders, rungs, score)
    if fit is ials_scorer:
        params["epochs"] = IALS_EPOCHS
    return params, at_end, scored


def run_baseline(
    name: str, train: PreparedData, test: EvalSet, seed: int, exclude: bool
) -> tuple[dict[str, float], float, str]:
    started = time.monotonic()
    if name == "most-popular":
        scorer = popularity_scorer(train)[0]
        chosen = ""
    else:
        params, at_end, scored = tune_baseline(name, train, seed, exclude)
        scorer = BASELINE_LADDERS[name][0](train, **params)
        chosen = ",".join(f"{k}={v}" for k, v in params.items()) + f" ({scored} scored"
        if params.get("neighbours") == train.n_items - 1:
            chosen += "; k = every neighbour"
        chosen += f"; at the ladder's end: {','.join(at_end)})" if at_end else ")"
    metrics = evaluate(scorer, test, exclude)
    return metrics, time.monotonic() - started, chosen


def run_recipe(
    name: str,
    inter: Interactions,
    items: ItemsTable | None,
    users: UsersTable | None,
    seed: int,
    refit: bool = True,
    max_seconds: float | None = None,
) -> tuple[dict[str, float], float, str, dict[str, float] | None]:
    """The recipe's test metrics, training seconds, a note, and (with a Users dataset) the same model's metrics
    without the users' lift (the trainer reports them when validation chose a weight above 0; else equal)."""
    started = time.monotonic()
    model = train_solution_version(
        ARN + RECIPES[name],
        inter,
        items,
        users,
        {},
        False,
        "FULL",
        None,
        None,
        seed,
        max_training_seconds=max_seconds,
        refit=refit,
    )
    note = ""
    if model.seq_config is not None:
        stop = model.training_stop
        note = f"epochs={stop['epochs']} ({stop['stopReason']}, best {stop['bestEpoch']}"
        note += f", refit {stop['refitEpochs']})" if "refitEpochs" in stop else ")"
        note += f",beta={model.beta}"
        if "userFeatures" in model.config:
            note += f",userFeatureWeight={model.config['userFeatures']['weight']}"
    without = model.baselines.get("without user features", model.metrics) if users is not None else None
    return model.metrics, time.monotonic() - started, note, without


def objective_tradeoff(inter: Interactions, items: ItemsTable | None, column: str, seeds: int) -> str:
    """UP-v2 with ``optimizationObjective`` on ``column`` at each sensitivity: NDCG@10 against the mean value of
    the column over the top 10 and Personalize's average_rewards_at_k. The model is trained once per split
    (sensitivity OFF) and the trainer's own ``apply_objective`` adds each sensitivity's shift to a copy."""
    rows: dict[str, list[tuple[float, float, float]]] = {s: [] for s in OBJECTIVE_WEIGHTS}
    for seed in range(seeds):
        config = {"optimizationObjective": {"itemAttribute": column, "objectiveSensitivity": "OFF"}}
        base = train_solution_version(
            ARN + RECIPES["up-v2"], inter, items, None, config, False, "FULL", None, None, seed
        )
        values = item_attribute(base.item_ids, items, column)
        data = prepare(inter, items, {})
        test = split(data, seed, base.exclude_seen).test
        for sensitivity in OBJECTIVE_WEIGHTS:
            model = copy.deepcopy(base)
            apply_objective(model, (column, sensitivity, values), test)
            top = recommend(model.scorer(), test.inputs, model.exclude_seen, k=10)
            rows[sensitivity].append(
                (model.metrics[NDCG10], float(values[top[top >= 0]].mean()), model.metrics["average_rewards_at_k"])
            )
            print(f"seed {seed} {sensitivity:6s} {rows[sensitivity][-1]}", file=sys.stderr, flush=True)
    lines = [
        f"| objectiveSensitivity | NDCG@10 | mean {column} of the top 10 | average_rewards_at_k |",
        "|---|---:|---:|---:|",
    ]
    for sensitivity, runs in rows.items():
        cells = [fmt([run[k] for run in runs]) for k in range(3)]
        lines.append(f"| {sensitivity} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fmt(values: Sequence[float]) -> str:
    a = np.asarray(values)
    if len(a) == 1:
        return f"{a[0]:.4f}"
    return f"{a.mean():.4f} ± {a.std():.4f} [{a.min():.3f}-{a.max():.3f}]"


def _cell(run: dict[str, Any]) -> str:
    """One model's NDCG@10 on one split, its training seconds, and its note: a baseline's chosen settings and
    whether each is inside its ladder, a recipe's epochs and stop reason."""
    note = run["note"].replace(",epochs=8", "")
    if note.endswith(" scored)"):
        note = note[:-1] + "; inside)"
    return f"{run['metrics'][NDCG10]:.4f} · {run['seconds']:.0f} s" + (f" · {note}" if note else "")


def split_table(results: dict[str, list[dict[str, Any]]], base: list[str], ours: list[str]) -> list[str]:
    """Per split: every model's NDCG@10 (training s, settings), the split's best baseline, and each recipe's
    ratio to it against the goal."""
    header = ["split", *results, "best baseline", *(f"{m} ratio" for m in ours)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---|" * (len(results) + 1) + "---:|" * len(ours)]
    for k in range(len(next(iter(results.values())))):
        cells = [_cell(results[m][k]) for m in results]
        best = max(base, key=lambda b: results[b][k]["metrics"][NDCG10]) if base else ""
        ratios = []
        for m in ours:
            r = results[m][k]["metrics"][NDCG10] / results[best][k]["metrics"][NDCG10] if best else float("nan")
            ratios.append(f"{r:.3f}x {'✓' if r >= GOAL_RATIO else '✗'}")
        lines.append(f"| {results[next(iter(results))][k]['seed']} | " + " | ".join([*cells, best, *ratios]) + " |")
    return lines


def table(results: dict[str, list[dict[str, Any]]], dataset: str, seeds: int) -> str:
    lines = [
        f"### {dataset}: mean ± std [min-max] over {seeds} user splits",
        "",
        "| model | " + " | ".join(SHORT[m] for m in METRIC_NAMES) + " | train s |",
        "|---|" + "---:|" * (len(METRIC_NAMES) + 1),
    ]
    for model, runs in results.items():
        cells = [fmt([r["metrics"][m] for r in runs]) for m in METRIC_NAMES]
        secs = np.asarray([r["seconds"] for r in runs])
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {secs.mean():.1f} (max {secs.max():.1f}) |")
    base = [b for b in BASELINES if b in results]
    ours_models = [m for m in results if m.split(" ")[0] in ("up-v2", "up", "pr-v2", "pr")]
    lines += ["", *split_table(results, base, ours_models)]
    for ours in ours_models:
        if not base:
            break
        per_seed = []
        for k, run in enumerate(results[ours]):
            best_k = max(base, key=lambda b: results[b][k]["metrics"][NDCG10])
            ratio_k = run["metrics"][NDCG10] / results[best_k][k]["metrics"][NDCG10]
            verdict = "yes" if ratio_k >= GOAL_RATIO else "NO"
            per_seed.append(f"split {run['seed']}: {ratio_k:.3f}x {best_k} ({verdict})")
        means = {b: np.mean([r["metrics"][NDCG10] for r in results[b]]) for b in base}
        best_name = max(means, key=lambda b: means[b])
        ratio = np.mean([r["metrics"][NDCG10] for r in results[ours]]) / means[best_name]
        lines.append("")
        lines.append(
            f"{ours}: NDCG@10 {ratio:.3f}x the best baseline on average ({best_name}); "
            f"per split vs that split's best baseline (goal >= {GOAL_RATIO}x): " + "; ".join(per_seed)
        )
    return "\n".join(lines)


def latency(n_items: int, runs: int = 300) -> str:
    """ONNX Runtime latency of the v2 scoring graph for a catalogue of ``n_items`` (random weights: the cost
    does not depend on their values), batch 1, one intra-op thread, full-length history."""
    import tempfile

    import onnxruntime as ort

    from tailor_trainer.artifacts import INPUT_NAME, export_onnx_graph
    from tailor_trainer.domain.sequential import HybridScorer, SequenceModel, _decay_weights
    from tailor_trainer.domain.train import V2_CONFIG

    cfg = V2_CONFIG
    rng = np.random.default_rng(0)
    model = SequenceModel(n_items, cfg, None).eval()
    k = cfg.linear_neighbours
    lin_idx = rng.integers(0, n_items, (n_items, k)).astype(np.int64)
    lin_val = rng.normal(0, 0.01, (n_items, k)).astype(np.float32)
    width = max(cfg.context, cfg.linear_window)
    module = HybridScorer(
        model, n_items, cfg.linear_window, _decay_weights(cfg.linear_window, cfg.recency_decay), lin_idx, lin_val, 1.0
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx_graph(module, width, n_items, path)
        size = path.stat().st_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        seq = rng.integers(0, n_items, (1, width)).astype(np.int64)
        for _ in range(20):
            session.run(None, {INPUT_NAME: seq})
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            session.run(None, {INPUT_NAME: seq})
            times.append((time.perf_counter() - t0) * 1000)
    a = np.asarray(times)
    return (
        f"ONNX Runtime {ort.__version__}, {n_items} items, history {width}, batch 1, 1 thread: "
        f"p50 {np.percentile(a, 50):.2f} ms, p95 {np.percentile(a, 95):.2f} ms, p99 {np.percentile(a, 99):.2f} ms "
        f"(model file {size / 1e6:.1f} MB)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="ml-100k")
    parser.add_argument("--seeds", type=int, default=5, help="run splits 0 .. N-1")
    parser.add_argument(
        "--splits", help="run only these splits, e.g. '3' or '2,3,4' (instead of --seeds; --merge joins the files)"
    )
    parser.add_argument("--models", default=",".join([*RECIPES, *BASELINES]))
    parser.add_argument("--json", help="also write per-seed results here")
    parser.add_argument("--objective", metavar="COLUMN", help="only show UP-v2's optimizationObjective trade-off")
    parser.add_argument(
        "--features",
        choices=("all", "items", "none"),
        default="all",
        help="metadata the recipes get: Items and Users datasets, Items only, or neither (interactions only)",
    )
    parser.add_argument("--label", default="", help="appended to the recipes' row names (e.g. ' (no metadata)')")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--max-training-seconds",
        type=float,
        help="the recipes' maximum training time (default: the trainer's, which a heavily loaded machine can reach)",
    )
    parser.add_argument(
        "--no-refit", action="store_true", help="serve the validated weights, without the refit on all training users"
    )
    parser.add_argument("--latency", type=int, metavar="N_ITEMS", help="only measure ONNX latency for N_ITEMS")
    parser.add_argument(
        "--merge", nargs="+", metavar="JSON", help="print one table from --json files of runs on the same splits"
    )
    args = parser.parse_args(argv)
    if args.merge:
        by_split: dict[str, dict[int, dict[str, Any]]] = {}
        datasets: set[str] = set()
        for path in args.merge:  # a later file replaces a model's run of the same split (e.g. a wider ladder)
            saved = json.loads(Path(path).read_text())
            datasets.add(saved["dataset"])
            for model, runs in saved["results"].items():
                by_split.setdefault(model, {}).update({run["seed"]: run for run in runs})
        splits = {tuple(sorted(runs)) for runs in by_split.values()}
        if len(datasets) != 1 or len(splits) != 1:
            raise SystemExit(f"the files hold different data sets {sorted(datasets)} or splits {sorted(splits)}")
        order = [*RECIPES, *BASELINES]
        ordered = {
            m: [runs[k] for k in sorted(runs)]
            for m, runs in sorted(by_split.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
        }
        print(table(ordered, datasets.pop(), len(splits.pop())))
        return
    torch.set_num_threads(args.threads)
    if args.latency:
        print(latency(args.latency))
        return
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    inter, items = load(args.dataset)
    users = load_users(args.dataset) if args.features == "all" else None
    recipe_items = None if args.features == "none" else items
    if args.objective:
        print(objective_tradeoff(inter, items, args.objective, args.seeds))
        return
    data = prepare(inter, items, {})
    exclude = repeat_share(data) < 0.05
    results: dict[str, list[dict[str, Any]]] = {}
    for seed in [int(k) for k in args.splits.split(",")] if args.splits else range(args.seeds):
        sp = split(data, seed, exclude)
        for m in models:
            without = None
            if m in RECIPES:
                metrics, secs, note, without = run_recipe(
                    m, inter, recipe_items, users, seed, not args.no_refit, args.max_training_seconds
                )
            else:
                metrics, secs, note = run_baseline(m, sp.train, sp.test, seed, exclude)
            name = f"{m}{args.label}" if m in RECIPES else m
            results.setdefault(name, []).append({"seed": seed, "metrics": metrics, "seconds": secs, "note": note})
            print(f"seed {seed} {m:18s} NDCG@10={metrics[NDCG10]:.4f} {secs:7.1f}s {note}", file=sys.stderr, flush=True)
            if without is not None:  # the same model without the Users lift: the effect of the Users dataset
                results.setdefault(f"{name} (no Users)", []).append(
                    {"seed": seed, "metrics": without, "seconds": secs, "note": "same model, Users lift off"}
                )
        if args.json:  # after every split, so a long run that is stopped keeps what it finished
            Path(args.json).write_text(json.dumps({"dataset": args.dataset, "results": results}, indent=1))
    print(table(results, args.dataset, len(next(iter(results.values()), []))))


if __name__ == "__main__":
    main()
