"""GetRecommendations' serving path at 10,000, 100,000 and 1,000,000 items in one run (ADR 0019): CPU and wall
latency side by side, recall@25 of candidate retrieval against exact scoring, model load time and memory.

    uv run python bench/runtime_retrieval.py                          # 10,000 (trained), 100,000 and 1,000,000
    uv run python bench/runtime_retrieval.py --large 300000 --rounds 3
    uv run python bench/runtime_retrieval.py --build-at-load          # also: the 1M load without its index
    uv run python bench/runtime_retrieval.py --large 1000000 --profile 300   # cProfile of plain requests per step
    uv run python bench/runtime_retrieval.py --large 1000000 --grid           # nprobe x rescored candidates
    uv run python bench/runtime_retrieval.py --large 1000000 --grid-masks     # the filter+promo sub-indexes' nprobe
    uv run python bench/runtime_retrieval.py --large 1000000 --cold-searches  # those searches in and out of cache

In process, no gRPC and no Redis: it times what the runtime does per request once the user's state is read —
``tailor_shared.scoring.answer.recommendations`` with the handler's inputs (bound filters, exploration) — so
the catalogue sizes differ only in what grows with the catalogue. bench/runtime_latency.py measures the whole
service at 10,000 items.

Robust on a shared, noisy machine: the catalogues are interleaved — each round runs every scenario's pass over the
users on each catalogue in turn (order reversed every other round) — and each request records its wall time and
its thread's CPU time (``time.thread_time``: the serving path's own work, without the waits for a core). A row
gives the median over rounds of each round's p50, the p99 over all requests, and the ratio to the 10,000-item p50
(median over rounds of the same round's ratio).

Models. 10,000 items: UP-v2 trained by the trainer's code for one epoch on the synthetic catalogue (cached under
``.tailor/bench-cache/``, as bench/runtime_latency.py does). 1,000,000 items: training a full-softmax model over a
million items does not fit this machine, so the large catalogues are grown from the trained one — item i keeps a
trained item's vector and bias plus Gaussian noise (half the trained vectors' per-dimension spread), the
transformer is the trained one — and exported with the trainer's own ``export_retrieval``, which builds and ships
the ANN index as the trainer does (ADR 0019 §5; printed progress: building takes minutes at 1,000,000 items); the
linear part keeps the trained items' 32 best neighbours (the trainer keeps it for the most popular items of large
catalogues). Users are the synthetic data's, with real histories.

Scenarios (UP-v2, numResults 25, exploration as the recipe's defaults): ``plain``; ``filter`` (EXCLUDE purchased
| INCLUDE two categories); ``filter+promo`` (plus 20 % promoted among the newest items); ``selective`` (INCLUDE one
category and PRICE < 5: about 0.2 % of the catalogue, scored exactly). Latency is measured with exploration, as
served. Recall@25: the share of the exact answer's items (every item scored from the same files,
``Retrieval.exact``) in the retrieval answer, same request, without exploration (its random draw depends on the
whole regular list, so one different item changes every drawn one: that measures the draw, not retrieval).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the runtime process sets it (tailor_runtime/__init__.py)

import argparse
import copy
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import pct

from tailor_shared.filters import bind_filter_values, parse_filter_expression
from tailor_shared.redis_keys import HistoryEntry, UserState
from tailor_shared.scoring import answer
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.loader import LoadedModel
from tailor_shared.scoring.retrieval import Retrieval
from tailor_tools import synthetic

ROOT = Path(__file__).resolve().parent.parent
FILTER = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase") | INCLUDE ItemID WHERE Items.CATEGORY IN ($C)'
PROMO = "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > $DATE"
SELECTIVE = 'INCLUDE ItemID WHERE Items.CATEGORY IN ("books") AND Items.PRICE < 5'
LINEAR_NEIGHBOURS = 32
SOURCE = "grown_source.npy"  # bench only: the trained item each grown item was drawn from


def say(message: str) -> None:
    print(message, flush=True)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def grown_model(base: Path, n: int, out: Path, seed: int) -> Path:
    """A ``n``-item model grown from the trained one (see the module docstring), exported by the trainer's code."""
    if (out / "manifest.json").exists():
        return out
    import torch
    from torch import nn

    from tailor_trainer.artifacts import INPUT_NAME, OPSET
    from tailor_trainer.domain.sequential import HybridScorer
    from tailor_trainer.retrieval import export_retrieval

    started = time.monotonic()
    manifest: dict[str, Any] = json.loads((base / "manifest.json").read_text())
    trained = torch.load(base / manifest["trainerState"], weights_only=False)
    m0 = trained.n_items
    rng = np.random.default_rng(seed)
    src = np.concatenate([np.arange(m0), rng.integers(0, m0, n - m0)])
    seq = copy.deepcopy(trained.seq_model).eval()
    with torch.no_grad():
        table = seq.item_table().detach().numpy()[:m0]
        bias = seq.bias.detach().numpy()
    spread = table.std(axis=0, keepdims=True) * 0.5
    vectors = table[src] + rng.normal(size=(n, table.shape[1])).astype(np.float32) * spread
    vectors[:m0] = table
    biases = bias[src] + rng.normal(size=n).astype(np.float32) * float(bias.std()) * 0.5
    biases[:m0] = bias
    say(f"  grown {n:,} item vectors from {m0:,} trained ones ({time.monotonic() - started:.0f}s)")
    seq.item = nn.Embedding(n + 1, vectors.shape[1], padding_idx=n)
    with torch.no_grad():
        seq.item.weight.copy_(torch.from_numpy(np.vstack([vectors, np.zeros((1, vectors.shape[1]), np.float32)])))
    seq.bias = nn.Parameter(torch.from_numpy(biases.astype(np.float32)))
    seq.n_items, seq.use_meta = n, False
    lin_idx = lin_val = None
    if trained.lin_idx is not None and trained.lin_val is not None:
        lin_idx = np.zeros((n, LINEAR_NEIGHBOURS), dtype=np.int64)
        lin_val = np.zeros((n, LINEAR_NEIGHBOURS), dtype=np.float32)
        lin_idx[:m0] = trained.lin_idx[:, :LINEAR_NEIGHBOURS]
        lin_val[:m0] = trained.lin_val[:, :LINEAR_NEIGHBOURS]
    cfg = trained.seq_config
    weights = trained.inference_module().weights
    scorer = HybridScorer(seq, n, cfg.linear_window, weights.numpy(), lin_idx, lin_val, trained.beta)
    tmp = out.parent / f".{out.name}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    base_ids = json.loads((base / manifest["items"]["index"]).read_text())
    grown_ids = base_ids + [f"grown-{i:07d}" for i in range(m0, n)]
    (tmp / manifest["items"]["index"]).write_text(json.dumps(grown_ids))  # the index records this order
    say(f"  exporting the retrieval files and building the ANN index (faiss, one thread) ... ({n:,} items)")
    entry = export_retrieval(scorer, trained.sequence_length, tmp, OPSET, INPUT_NAME, index_min_items=0)
    say(f"  exported ({time.monotonic() - started:.0f}s)")
    arrays = manifest["arrays"]
    for key in ("itemPopularity", "itemInteractions", "itemCreationTimestamp", "itemIsNew"):
        values = np.load(base / arrays[key], allow_pickle=False)
        np.save(tmp / arrays[key], values[src], allow_pickle=False)
    pop = np.load(tmp / arrays["itemPopularity"])
    order = np.lexsort((np.arange(n), -pop))
    np.save(tmp / arrays["popularItems"], order[pop[order] > 0].astype(np.int64), allow_pickle=False)
    np.save(tmp / SOURCE, src, allow_pickle=False)
    manifest["items"]["count"] = n
    manifest["retrieval"] = entry
    manifest["onnx"]["padIndex"] = n  # no model.onnx: above the threshold the runtime never loads it
    manifest.pop("users", None)
    manifest.pop("context", None)
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    tmp.rename(out)
    return out


def index_version() -> str:
    """The index builder's version (its code and build settings): a grown model cached with another is rebuilt,
    as ``runtime_latency._trainer_hash`` does for the trained one."""
    import hashlib
    import inspect

    from tailor_shared.scoring import retrieval as r

    settings = (r.CELLS_PER_SQRT, r.FASTSCAN_MIN_ITEMS, r.TRAIN_PER_CELL, r.KMEANS_ITERATIONS, r.SEED)
    return hashlib.sha256((inspect.getsource(r.build_index) + repr(settings)).encode()).hexdigest()[:8]


def catalogue(model: LoadedModel, directory: Path, data: synthetic.SyntheticData) -> ItemIndex:
    """The items' metadata: trained items keep the synthetic catalogue's; a grown item has its source item's
    category and a price and creation time drawn anew."""
    meta_of = {str(r["ITEM_ID"]): r for r in data.items}
    n = len(model.item_ids)
    src = np.load(directory / SOURCE) if (directory / SOURCE).exists() else np.arange(n)
    rng = np.random.default_rng(5)
    prices = rng.uniform(2, 200, n)
    stamps = rng.integers(1_700_000_000 - 365 * 86400, 1_700_000_000, n)
    metadata: dict[str, dict[str, str]] = {}
    for i, item in enumerate(model.item_ids):
        row = meta_of.get(item)
        if row is not None:
            metadata[item] = {k: str(row[k]) for k in ("CATEGORY", "PRICE", "CREATION_TIMESTAMP")}
        else:
            category = str(meta_of[model.item_ids[int(src[i])]]["CATEGORY"])
            metadata[item] = {"CATEGORY": category, "PRICE": f"{prices[i]:.2f}", "CREATION_TIMESTAMP": str(stamps[i])}
    return ItemIndex(model.item_ids, metadata=metadata)


def user_states(data: synthetic.SyntheticData, count: int) -> list[tuple[str, UserState]]:
    """Users with their real histories (most recent first) and purchase windows, as the runtime reads them."""
    by_user: dict[str, list[dict[str, object]]] = {}
    for row in data.interactions:
        by_user.setdefault(str(row["USER_ID"]), []).append(row)
    out: list[tuple[str, UserState]] = []
    for user, rows in list(by_user.items())[:count]:
        recent = rows[-50:][::-1]
        history = [
            HistoryEntry(str(r["ITEM_ID"]), str(r["EVENT_TYPE"]), None, 2e9 + k, f"t{k}") for k, r in enumerate(recent)
        ]
        purchased = [str(r["ITEM_ID"]) for r in recent if r["EVENT_TYPE"] == "purchase"]
        out.append((f"bench-{user}", UserState(history, {"purchase": purchased}, frozenset(), {})))
    return out


def promo_date(served: list[tuple[str, LoadedModel, ItemIndex]]) -> int:
    """The promotion's cut-off: the newest tenth of the smallest catalogue's items."""
    metadata = served[0][2].metadata.values()
    return int(np.percentile([float(str(m.get("CREATION_TIMESTAMP", 0))) for m in metadata], 90))


def scenarios(date: int) -> dict[str, tuple[Any, Any]]:
    bound = bind_filter_values(parse_filter_expression(FILTER), {"C": '"books","music"'})
    promo = bind_filter_values(parse_filter_expression(PROMO), {"DATE": str(date)})
    selective = bind_filter_values(parse_filter_expression(SELECTIVE), {})
    return {
        "plain": (None, None),
        "filter": (bound, None),
        "filter+promo": (bound, answer.PromotionRequest("new", 20, promo)),
        "selective": (selective, None),
    }


def serve(
    model: LoadedModel,
    index: ItemIndex,
    user: str,
    state: UserState,
    bound: Any,
    promo: Any,
    exact: bool,
    explore: bool = True,
) -> list[int]:
    """One request as the handler makes it (``exact``: every item scored from the retrieval files; ``explore``:
    with the recipe's item exploration)."""
    retrieval = model.retrieval
    base = None
    if exact and retrieval is not None:
        base = retrieval.exact(answer.history(model, index, user, state))
    ranked = answer.recommendations(
        model,
        index,
        user_id=user,
        item_id=None,
        state=state,
        bound=bound,
        num_results=25,
        context={},
        exploration=answer.exploration_for(model, None, "bench-version", user, now=0.0) if explore else None,
        seed="RID-bench",
        promotion=promo,
        base_scores=base,
        retrieval=None if exact else retrieval,
    )
    return [r.index for r in ranked]


Sample = dict[tuple[str, str], list[list[tuple[float, float]]]]  # (catalogue, scenario) -> rounds of (wall, CPU)


def timed(
    model: LoadedModel, index: ItemIndex, users: list[tuple[str, UserState]], bound: Any, promo: Any
) -> list[tuple[float, float]]:
    """One pass over ``users``: each request's wall time and this thread's CPU time (what the request costs,
    without the shared machine's waits for a core)."""
    out = []
    for user, state in users:
        started, cpu_started = time.perf_counter(), time.thread_time()
        serve(model, index, user, state, bound, promo, exact=False)
        out.append((time.perf_counter() - started, time.thread_time() - cpu_started))
    return out


def recall(model: LoadedModel, index: ItemIndex, users: list[tuple[str, UserState]], bound: Any, promo: Any) -> str:
    if model.retrieval is None:
        return "-"
    hits = total = 0
    for user, state in users:
        want = serve(model, index, user, state, bound, promo, exact=True, explore=False)
        got = serve(model, index, user, state, bound, promo, exact=False, explore=False)
        hits += len(set(got) & set(want))
        total += len(want)
    return f"{hits / max(total, 1):.4f}"


def interleaved(
    served: list[tuple[str, LoadedModel, ItemIndex]], users: list[tuple[str, UserState]], rounds: int
) -> Sample:
    """Every scenario on every catalogue, alternating: round r runs each scenario's pass on each catalogue in turn
    (order reversed every other round), so a burst of load on the shared machine hits both catalogues alike."""
    cases = scenarios(promo_date(served))
    for label, model, index in served:  # warm-up; the first filtered request builds its masks' structures
        for name, (bound, promo) in cases.items():
            first = timed(model, index, users[:5], bound, promo)
            say(f"  {label} {name}: first request {first[0][0] * 1e3:.1f} ms (then {first[-1][0] * 1e3:.2f} ms)")
    sample: Sample = {}
    for r in range(rounds):
        started = time.monotonic()
        for name, (bound, promo) in cases.items():
            for label, model, index in served if r % 2 == 0 else served[::-1]:
                sample.setdefault((label, name), []).append(timed(model, index, users, bound, promo))
        say(f"  round {r + 1}/{rounds}: {time.monotonic() - started:.0f}s, load average {os.getloadavg()[0]:.1f}")
    return sample


def report(
    served: list[tuple[str, LoadedModel, ItemIndex]], users: list[tuple[str, UserState]], sample: Sample
) -> None:
    """Per catalogue and scenario: the median over rounds of each round's p50 (wall, CPU), the p99 over all
    requests, and the ratio to the smallest catalogue's p50 (median over rounds of the same round's ratio)."""
    base = served[0][0]
    say("| catalogue | scenario | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | p50 ratio | CPU p50 ratio | recall@25 |")
    say("|---|---|---|---|---|---|---|---|---|")
    for name, (bound, promo) in scenarios(promo_date(served)).items():
        for label, model, index in served:
            rounds = sample[(label, name)]
            wall = [pct([w for w, _ in r], 0.5) for r in rounds]
            cpu = [pct([c for _, c in r], 0.5) for r in rounds]
            base_rounds = sample[(base, name)]
            wall_ratio = [w / pct([x for x, _ in b], 0.5) for w, b in zip(wall, base_rounds, strict=True)]
            cpu_ratio = [c / pct([x for _, x in b], 0.5) for c, b in zip(cpu, base_rounds, strict=True)]
            every = [x for r in rounds for x in r]
            p99, cpu_p99 = pct([w for w, _ in every], 0.99), pct([c for _, c in every], 0.99)
            say(
                f"| {label} | {name} | {statistics.median(wall) * 1e3:.2f} | {p99 * 1e3:.2f} "
                f"| {statistics.median(cpu) * 1e3:.2f} | {cpu_p99 * 1e3:.2f} "
                f"| {statistics.median(wall_ratio):.2f}x | {statistics.median(cpu_ratio):.2f}x "
                f"| {recall(model, index, users, bound, promo)} |"
            )


def profile(
    served: list[tuple[str, LoadedModel, ItemIndex]], users: list[tuple[str, UserState]], count: int, scenario: str
) -> None:
    """cProfile of ``count`` requests of one scenario per catalogue (as served: exploration on), side by side: each
    function's own time per request (µs; cProfile's overhead inflates small calls alike at every size), sorted by
    how much it grows from the smallest catalogue to the largest."""
    import cProfile
    import pstats

    bound, promo = scenarios(promo_date(served))[scenario]
    per: dict[str, dict[str, float]] = {}
    for label, model, index in served:
        chosen = [users[i % len(users)] for i in range(count)]
        timed(model, index, chosen[:20], bound, promo)  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        timed(model, index, chosen, bound, promo)
        profiler.disable()
        stats: dict[tuple[str, int, str], tuple[Any, ...]] = vars(pstats.Stats(profiler))["stats"]
        for (path, line, name), (_, _, own, _, _) in stats.items():
            key = f"{Path(path).name}:{line}({name})" if line else name
            per.setdefault(key, {})[label] = own / count * 1e6
    labels = [label for label, _, _ in served]
    rows = sorted(per.items(), key=lambda kv: kv[1].get(labels[-1], 0.0) - kv[1].get(labels[0], 0.0), reverse=True)
    say(f"cProfile, {count} {scenario} requests per catalogue: own time per request (µs), by growth")
    say("| function | " + " | ".join(labels) + " |")
    say("|---|" + "---|" * len(labels))
    for key, times in rows[:25]:
        say(f"| `{key}` | " + " | ".join(f"{times.get(label, 0.0):.1f}" for label in labels) + " |")
    say("| total | " + " | ".join(f"{sum(t.get(label, 0.0) for t in per.values()):.1f}" for label in labels) + " |")


GRID_NPROBE = (24, 32, 40, 48, 64)
GRID_K = (128, 256, 512)


def grid(served: list[tuple[str, LoadedModel, ItemIndex]], users: list[tuple[str, UserState]], rounds: int) -> None:
    """The search settings of the largest catalogue (``nprobe`` x ``first_k``, the candidates the codes pick for
    exact rescoring): recall@25 of plain answers against exact scoring, and the plain request's CPU p50 (median
    over ``rounds`` interleaved passes, each setting in turn)."""
    label, model, index = served[-1]
    kept = model.retrieval
    assert kept is not None
    chosen = (kept.nprobe, kept.first_k)
    say(f"grid on {label}: exact answers of {len(users)} users ...")
    want = [serve(model, index, user, state, None, None, exact=True, explore=False) for user, state in users]
    settings = [(p, k) for p in GRID_NPROBE for k in GRID_K]
    cpu: dict[tuple[int, int], list[float]] = {}
    for r in range(rounds):
        for p, k in settings if r % 2 == 0 else settings[::-1]:
            kept.nprobe, kept.first_k = p, k
            cpu.setdefault((p, k), []).append(pct([c for _, c in timed(model, index, users, None, None)], 0.5))
        say(f"  round {r + 1}/{rounds}, load average {os.getloadavg()[0]:.1f}")
    say("| nprobe | rescored (k) | recall@25 | plain CPU p50 ms |")
    say("|---|---|---|---|")
    for p, k in settings:
        kept.nprobe, kept.first_k = p, k
        got = [serve(model, index, user, state, None, None, exact=False, explore=False) for user, state in users]
        hits = sum(len(set(g) & set(w)) for g, w in zip(got, want, strict=True))
        share = hits / max(sum(len(w) for w in want), 1)
        mark = " (default)" if (p, k) == chosen else ""
        say(f"| {p}{mark} | {k} | {share:.4f} | {statistics.median(cpu[(p, k)]) * 1e3:.3f} |")
    kept.nprobe, kept.first_k = chosen


GRID_MASK_SHARES = (1.0, 0.75, 0.5)


def sub_indexes(
    model: LoadedModel, index: ItemIndex, users: list[tuple[str, UserState]], bound: Any, promo: Any
) -> dict[str, Any]:
    """The filter+promotion request's two sub-indexes on ``model`` (built by a few requests): the filter's (a
    category: the main index's cells) and the promotion's (spread: cells of its own)."""
    from tailor_shared.scoring import retrieval

    kept = model.retrieval
    assert kept is not None
    timed(model, index, users[:5], bound, promo)  # builds both masks' sub-indexes
    found = [e for e in kept.masks.entries() if e.index is not None]
    clustered = [e.index for e in found if e.share >= retrieval.CLUSTERED_MIN_DENSITY]
    own = [e.index for e in found if e.share < retrieval.CLUSTERED_MIN_DENSITY]
    assert len(clustered) == len(own) == 1, "expected a filter (main cells) and a promotion (own cells) sub-index"
    return {"filter": clustered[0], "promotion": own[0]}


def cold_searches(
    served: list[tuple[str, LoadedModel, ItemIndex]], users: list[tuple[str, UserState]], rounds: int
) -> None:
    """The filter+promotion request's two sub-index searches on the largest catalogue, alone, at the request's
    nprobe and k and at nprobe 1: warm (only searches), after one request on the smallest catalogue, and after
    reading 64 MiB between searches. Wall time per search, median over rounds of each round's median (ADR 0019
    §16: the searches cost the codes they read from memory)."""
    (_, small, small_index), (label, model, index) = served[0], served[-1]
    kept = model.retrieval
    assert kept is not None
    bound, promo = scenarios(promo_date(served))["filter+promo"]
    subs = sub_indexes(model, index, users, bound, promo)
    # The k each search asks for in the request, before its excluded items.
    ks = {"filter": kept.rescored(25), "promotion": kept.rescored(25 * promo.percent // 100)}
    queries = [kept.query(answer.history(model, index, user, state)) for user, state in users]
    block = np.ones(64 * 2**20 // 8)
    user, state = users[0]
    between: dict[str, Any] = {
        "warm": lambda: None,
        "after one 10,000-item request": lambda: serve(small, small_index, user, state, None, None, exact=False),
        "after reading 64 MiB": block.sum,
    }
    cells = [(name, probes) for name, sub in subs.items() for probes in (int(sub.nprobe), 1)]
    times: dict[tuple[str, int, str], list[float]] = {}
    for r in range(rounds):
        for name, probes in cells:
            sub, built = subs[name], int(subs[name].nprobe)
            sub.nprobe = probes
            for case, evict in between.items():
                walls = []
                for query in queries:
                    evict()
                    started = time.perf_counter()
                    sub.search(query[None, :], ks[name])
                    walls.append(time.perf_counter() - started)
                times.setdefault((name, probes, case), []).append(statistics.median(walls))
            sub.nprobe = built
        say(f"  round {r + 1}/{rounds}, load average {os.getloadavg()[0]:.1f}")
    say(f"filter+promo's sub-index searches on {label}, wall µs per search ({len(queries)} queries, {rounds} rounds)")
    say("| search | items | cells | nprobe | k | " + " | ".join(between) + " |")
    say("|---|---|---|---|---|" + "---|" * len(between))
    for name, probes in cells:
        sub = subs[name]
        shown = " | ".join(f"{statistics.median(times[(name, probes, case)]) * 1e6:.0f}" for case in between)
        say(f"| {name} | {sub.ntotal:,} | {sub.nlist} | {probes} | {ks[name]} | {shown} |")


def grid_masks(
    served: list[tuple[str, LoadedModel, ItemIndex]], users: list[tuple[str, UserState]], rounds: int
) -> None:
    """The filter+promotion request's two sub-index searches on the largest catalogue: each sub-index's nprobe
    scaled by GRID_MASK_SHARES (the other at its built value), against the smallest catalogue's same request in
    the same round: CPU p50, its ratio (median over rounds of the round's ratio) and recall@25 of the request and
    of the filter alone (ADR 0019 §15)."""
    (_, small, small_index), (label, model, index) = served[0], served[-1]
    bound, promo = scenarios(promo_date(served))["filter+promo"]
    subs = sub_indexes(model, index, users, bound, promo)
    built = {name: int(sub.nprobe) for name, sub in subs.items()}
    settings = [("filter", 1.0)] + [(name, share) for name in subs for share in GRID_MASK_SHARES if share != 1.0]

    def apply(name: str, share: float) -> None:
        for other, sub in subs.items():
            sub.nprobe = max(1, round(built[other] * (share if other == name else 1.0)))

    cpu: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for r in range(rounds):
        for setting in settings if r % 2 == 0 else settings[::-1]:
            apply(*setting)
            base = pct([c for _, c in timed(small, small_index, users, bound, promo)], 0.5)
            large = pct([c for _, c in timed(model, index, users, bound, promo)], 0.5)
            cpu.setdefault(setting, []).append((base, large))
        say(f"  round {r + 1}/{rounds}, load average {os.getloadavg()[0]:.1f}")
    say(f"filter+promo on {label}: each sub-index's nprobe scaled, the other as built ({built})")
    say(
        "| scaled | nprobe filter / promotion | small CPU p50 ms | large CPU p50 ms | ratio | recall@25 | filter only |"
    )
    say("|---|---|---|---|---|---|---|")
    for name, share in settings:
        apply(name, share)
        pairs = cpu[(name, share)]
        shown = "none (as built)" if share == 1.0 else f"{name} x{share}"
        probes = " / ".join(str(sub.nprobe) for sub in subs.values())
        small_p50, large_p50 = statistics.median(b for b, _ in pairs), statistics.median(x for _, x in pairs)
        say(
            f"| {shown} | {probes} | {small_p50 * 1e3:.3f} | {large_p50 * 1e3:.3f} "
            f"| {statistics.median(x / b for b, x in pairs):.2f}x | {recall(model, index, users, bound, promo)} "
            f"| {recall(model, index, users, bound, None)} |"
        )
    apply("filter", 1.0)  # both as built


def load(directory: Path, retrieval_min_items: int | None) -> tuple[LoadedModel, float, float]:
    before = rss_mib()
    started = time.monotonic()
    model = LoadedModel(directory, retrieval_min_items)
    return model, time.monotonic() - started, rss_mib() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000, help="the trained catalogue")
    parser.add_argument("--large", type=str, default="100000,1000000", help="the grown catalogues (comma-separated)")
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200, help="distinct users per scenario and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved passes over the users per scenario")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, help="cProfile N requests per catalogue, then stop")
    parser.add_argument("--scenario", default="plain", help="the scenario --profile runs (plain, filter, ...)")
    parser.add_argument("--grid", action="store_true", help="search settings on the largest catalogue, then stop")
    parser.add_argument(
        "--grid-masks", action="store_true", help="the filter+promo sub-indexes' nprobe on the largest, then stop"
    )
    parser.add_argument(
        "--cold-searches", action="store_true", help="the filter+promo sub-index searches, cached or not, then stop"
    )
    parser.add_argument(
        "--build-at-load", action="store_true", help="also time the largest model's load without its shipped index"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from runtime_latency import _trainer_hash, trained_model

    data = synthetic.generate(n_users=args.users, n_items=args.items, seed=args.seed)
    cache = ROOT / ".tailor" / "bench-cache"
    say(f"training (or reusing) UP-v2 on {args.items:,} items ...")
    base = trained_model(data, cache / f"runtime-upv2-{args.users}u-{args.items}i-s{args.seed}-{_trainer_hash()}")
    sizes = [int(x) for x in args.large.split(",") if x]
    models: list[tuple[str, Path, int | None]] = [(f"{args.items:,} exact", base, None)]
    for n in sizes:
        say(f"growing (or reusing) a {n:,}-item model ...")
        grown = cache / f"retrieval-{n}-i{index_version()}-from-{base.name}"
        models.append((f"{n:,} ANN", grown_model(base, n, grown, args.seed), 0))
    users = user_states(data, args.requests)
    served: list[tuple[str, LoadedModel, ItemIndex]] = []
    loads: list[str] = []
    for label, directory, threshold in models:
        model, load_s, mib = load(directory, threshold)
        kept = model.retrieval
        detail = (
            f", index {'built' if kept.built_at_load else 'read'} in {kept.index_seconds:.2f}s,"
            f" retrieval holds {kept.bytes / 2**20:.0f} MiB"
            if kept
            else ""
        )
        say(f"  loaded {label}: {load_s:.2f}s, +{mib:.0f} MiB RSS{detail}")
        loads.append(f"{label}: load {load_s:.2f} s, +{mib:.0f} MiB")
        started = time.monotonic()
        index = catalogue(model, directory, data)
        say(f"  item index with metadata: {time.monotonic() - started:.1f}s")
        served.append((label, model, index))
    if args.build_at_load:
        label, directory, _ = models[-1]
        before = rss_mib()
        started = time.monotonic()
        manifest = json.loads((directory / "manifest.json").read_text())
        onnx = manifest["onnx"]
        unindexed = Retrieval(
            directory, {**manifest["retrieval"], "index": None}, int(onnx["sequenceLength"]), int(onnx["padIndex"])
        )
        say(
            f"  {label} without its shipped index: built at load in {unindexed.index_seconds:.1f}s"
            f" ({time.monotonic() - started:.1f}s in all, +{rss_mib() - before:.0f} MiB RSS)"
        )
        del unindexed
    if args.profile:
        profile(served, users, args.profile, args.scenario)
        return
    if args.grid:
        grid(served, users, args.rounds)
        return
    if args.grid_masks:
        grid_masks(served, users, args.rounds)
        return
    if args.cold_searches:
        cold_searches(served, users, args.rounds)
        return
    say(f"{args.rounds} interleaved rounds of {len(users)} requests per catalogue and scenario ...")
    sample = interleaved(served, users, args.rounds)
    report(served, users, sample)
    say("; ".join(loads) + f"; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
