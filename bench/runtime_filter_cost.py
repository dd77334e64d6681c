"""What a filter and a promotion add to a GetRecommendations request, in process (issue 20 point 2, ADR 0019 §9).

    uv run python bench/runtime_filter_cost.py                                     # the table
    uv run python bench/runtime_filter_cost.py --profile "handler: filter+promo"   # plus cProfile's top functions

The same model, catalogue, filters and parameter values as bench/runtime_latency.py (UP-v2 trained for one epoch on
the 10,000-item synthetic catalogue, cached under ``.tailor/bench-cache/``; ``EXCLUDE purchased | INCLUDE
Items.CATEGORY IN ($CATEGORIES)`` with three categories per user; a 20 % promotion of
``Items.CREATION_TIMESTAMP > $DATE``, the newest fifth of the catalogue), and the user states its Redis read gives
(the user's 10 newest events as history, their purchases as the filter's window). No network, no Redis:

* ``answer: <scenario>``: ``tailor_shared.scoring.answer.recommendations`` as the handler calls it, filters bound;
  the model's ONNX scores of each user are computed once beforehand (they are the same work for every kind and
  the noisiest part on a loaded machine; ``step: model scores`` times them);
* ``handler: <scenario>``: the request parsed from its bytes, ``handlers.GetRecommendations`` on a deployment of
  the same model, scores cached as above (plan, filter lookup and binding, state, answer, response, impression;
  the resource view, the Redis read and the impressions queue are in-memory fakes), the response serialized;
* ``step: ...``: the pieces a filter and a promotion add, each alone over the same users: the filter's mask, the
  promotion's mask, ``ranking.recommend`` with and without the promotion (masks included).

Each call records its thread's CPU time (``time.thread_time``), so other load on the shared machine matters less
(it still inflates CPU time on a saturated 2-core machine: compare rows of one run); cells are interleaved (round r
runs a pass of every cell in turn, the order reversed every other round), and a row gives the median over rounds of
each round's median, with the p99 over all calls.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the runtime process sets it (tailor_runtime/__init__.py)

import argparse
import asyncio
import copy
import cProfile
import functools
import pstats
import statistics
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import pct
from runtime_latency import FILTER, HISTORY_USERS, NUM_RESULTS, PROMO, ROOT, _trainer_hash, trained_model

from tailor.runtime.v1 import runtime_pb2
from tailor_runtime.deployments import Deployment
from tailor_runtime.handlers import RuntimeHandlers
from tailor_shared.filters import BoundFilter, bind_filter_values, parse_filter_expression
from tailor_shared.redis_keys import HistoryEntry, Keys, UserState
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_shared.scoring import answer
from tailor_shared.scoring.filtering import FilterInputs, ItemIndex, filter_mask
from tailor_shared.scoring.loader import LoadedModel, load_model
from tailor_shared.scoring.ranking import Promotion, recommend
from tailor_tools import synthetic

Request = tuple[str, UserState, BoundFilter | None, answer.PromotionRequest | None]


def world(args: argparse.Namespace) -> tuple[LoadedModel, ItemIndex, dict[str, list[Request]], int]:
    """The benchmark's model, catalogue and requests (``runtime_latency.requests_for``'s users and values)."""
    data = synthetic.generate(n_users=args.users, n_items=args.items, seed=args.seed)
    cache = (
        ROOT / ".tailor" / "bench-cache" / f"runtime-upv2-{args.users}u-{args.items}i-s{args.seed}-{_trainer_hash()}"
    )
    model = load_model(trained_model(data, cache))
    metadata = {
        str(r["ITEM_ID"]): {k: str(r[k]) for k in ("CATEGORY", "PRICE", "CREATION_TIMESTAMP")} for r in data.items
    }
    index = ItemIndex(model.item_ids, metadata=metadata)
    times = sorted(int(str(r["CREATION_TIMESTAMP"])) for r in data.items)
    promo_date = times[int(len(times) * 0.8)]
    parsed = parse_filter_expression(FILTER)
    promo = answer.PromotionRequest(
        "new-arrivals", 20, bind_filter_values(parse_filter_expression(PROMO), {"DATE": str(promo_date)})
    )
    by_user: dict[str, list[dict[str, object]]] = {}
    for row in data.interactions:
        by_user.setdefault(str(row["USER_ID"]), []).append(row)
    cats = synthetic.CATEGORIES
    out: dict[str, list[Request]] = {"plain": [], "filter": [], "filter+promo": []}
    for n, user in enumerate(str(u["USER_ID"]) for u in data.users[:HISTORY_USERS]):
        recent = by_user.get(user, [])[-10:][::-1]  # the real-time events the benchmark sends, newest first
        history = [
            HistoryEntry(str(r["ITEM_ID"]), str(r["EVENT_TYPE"]), None, 2e9 + k, f"t{k}") for k, r in enumerate(recent)
        ]
        purchased = [str(r["ITEM_ID"]) for r in recent if r["EVENT_TYPE"] == "purchase"]
        state = UserState(history, {"purchase": purchased}, frozenset(), {})
        chosen = ",".join(f'"{cats[(n + k) % len(cats)]}"' for k in range(3))
        bound = bind_filter_values(parsed, {"CATEGORIES": chosen})
        out["plain"].append((user, state, None, None))
        out["filter"].append((user, state, bound, None))
        out["filter+promo"].append((user, state, bound, promo))
    return model, index, out, promo_date


ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"
CAMPAIGN = f"{ACCOUNT}:campaign/bench"
GROUP = f"{ACCOUNT}:dataset-group/bench"
FILTER_ARN = f"{ACCOUNT}:filter/bench-f"
PROMO_ARN = f"{ACCOUNT}:filter/bench-p"


class _State:
    """The Redis read's answer, without Redis: each user's state as the benchmark's Lua read returns it."""

    def __init__(self, states: dict[str, UserState]) -> None:
        self._states = states

    async def user_state(self, keys: Keys, user_id: str, event_types: Any, any_type: bool = False) -> UserState:
        state = self._states[user_id]
        return UserState(state.history, dict(state.windows), state.any_type_items, state.metadata)


class _Impressions:
    def send(self, recommendation_id: str, body: Any) -> None:
        pass


def handler_cells(
    model: LoadedModel, index: ItemIndex, requests: dict[str, list[Request]], promo_date: int
) -> tuple[RuntimeHandlers, dict[str, list[bytes]]]:
    """``handlers.GetRecommendations`` on a deployment of the same model, with the resource view, the Redis read
    and the impressions queue replaced by in-memory fakes; requests as serialized bytes (the server parses them
    and serializes the answer: both are timed)."""
    view = InMemoryResources(
        ResourceRecord(arn, "filter", {"datasetGroupArn": GROUP, "status": "ACTIVE", "filterExpression": text})
        for arn, text in ((FILTER_ARN, FILTER), (PROMO_ARN, PROMO))
    )
    dep = Deployment(CAMPAIGN, f"{ACCOUNT}:solution/bench/v1", model, index, Keys("bench", "g"), GROUP)
    registry = types.SimpleNamespace(deployments={CAMPAIGN: dep})
    states = {user: state for user, state, _, _ in requests["plain"]}
    handlers = RuntimeHandlers(view, registry, _State(states), _Impressions())  # type: ignore[arg-type]
    cats = synthetic.CATEGORIES
    out: dict[str, list[bytes]] = {}
    for scenario in requests:
        wire = []
        for n, (user, _, _, _) in enumerate(requests[scenario]):
            req = runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN, user_id=user, num_results=NUM_RESULTS)
            if scenario != "plain":
                req.filter_arn = FILTER_ARN
                req.filter_values["CATEGORIES"] = ",".join(f'"{cats[(n + k) % len(cats)]}"' for k in range(3))
            if scenario == "filter+promo":
                promo = req.promotions.add()
                promo.name, promo.percent_promoted_items, promo.filter_arn = "new-arrivals", 20, PROMO_ARN
                promo.filter_values["DATE"] = str(promo_date)
            wire.append(req.SerializeToString())
        out[f"handler: {scenario}"] = wire
    return handlers, out


def scores_cached(model: LoadedModel, index: ItemIndex, requests: list[Request]) -> LoadedModel:
    """The model with each benchmark user's ONNX scores computed once: the same for every request kind, so the
    rows compare what differs (the ``step: model scores`` row times the ONNX call itself)."""
    cache = {}
    for user, state, _, _ in requests:
        past = answer.history(model, index, user, state)
        cache[tuple(past)] = model.score_history(past)
    cached = copy.copy(model)
    cached.score_history = lambda history: cache[tuple(history)]  # type: ignore[method-assign]
    return cached


def serve(model: LoadedModel, index: ItemIndex, request: Request) -> list[int]:
    """One request's answer as ``handlers.GetRecommendations`` computes it once the state is read."""
    user, state, bound, promo = request
    ranked = answer.recommendations(
        model,
        index,
        user_id=user,
        item_id=None,
        state=state,
        bound=bound,
        num_results=NUM_RESULTS,
        context={},
        exploration=answer.exploration_for(model, None, "bench-version", user, now=0.0),
        seed="RID-bench",
        promotion=promo,
        retrieval=None,
    )
    return [r.index for r in ranked]


def steps(model: LoadedModel, index: ItemIndex, requests: list[Request]) -> dict[str, Callable[[Request], object]]:
    """The pieces a filter and a promotion add, each callable on one request (its inputs prepared per call as the
    request path prepares them)."""
    scores = {r[0]: model.score_history(answer.history(model, index, r[0], r[1])) for r in requests}

    def inputs(r: Request) -> FilterInputs:
        return FilterInputs(None, r[1].windows, None)

    def filter_step(r: Request) -> object:
        assert r[2] is not None
        return filter_mask(r[2], index, inputs(r))

    def promo_step(r: Request) -> object:
        assert r[3] is not None
        return filter_mask(r[3].bound, index, inputs(r))

    def rank(r: Request, promoted: bool) -> object:
        mask = np.ones(len(index), dtype=bool) if r[2] is None else filter_mask(r[2], index, inputs(r))
        promotion = None
        if promoted and r[3] is not None:
            promo_mask = filter_mask(r[3].bound, index, inputs(r))
            promotion = Promotion(r[3].name, r[3].percent, promo_mask, index.filter_positions(r[3].bound))
        exploration = answer.exploration_for(model, None, "bench-version", r[0], now=0.0)
        return recommend(
            scores[r[0]],
            mask,
            NUM_RESULTS,
            normalise=True,
            popularity=model.popularity,
            backfill_popular=True,
            show_reasons=True,
            promotion=promotion,
            exploration=exploration,
            seed="RID-bench",
        )

    return {
        "step: filter mask": filter_step,
        "step: promotion mask": promo_step,
        "step: masks + recommend, no promotion": lambda r: rank(r, False),
        "step: masks + recommend, promotion": lambda r: rank(r, True),
    }


def timed(call: Callable[[Request], object], requests: list[Request]) -> list[float]:
    out = []
    for r in requests:
        started = time.thread_time()
        call(r)
        out.append(time.thread_time() - started)
    return out


def timed_handler(handlers: RuntimeHandlers, wire: list[bytes]) -> list[float]:
    """Each request parsed, answered by the handler and its response serialized, as the server does."""
    parse = runtime_pb2.GetRecommendationsRequest.FromString

    async def go() -> list[float]:
        out = []
        for body in wire:
            started = time.thread_time()
            response = await handlers.GetRecommendations(parse(body), None)
            response.SerializeToString()
            out.append(time.thread_time() - started)
        return out

    return asyncio.run(go())


def world_parser(description: str | None) -> argparse.ArgumentParser:
    """The command line of the benchmarks built on ``world``: its catalogue, users and seed, and the rounds."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=7)
    return parser


def main() -> None:
    parser = world_parser(__doc__)
    parser.add_argument("--profile", default="", help="cProfile one cell's passes (e.g. 'handler: filter+promo')")
    args = parser.parse_args()
    onnx_model, index, requests, promo_date = world(args)
    model = scores_cached(onnx_model, index, requests["plain"])
    handlers, wire = handler_cells(model, index, requests, promo_date)
    step_calls = steps(model, index, requests["filter+promo"])
    step_calls["step: model scores (ONNX, every kind)"] = lambda r: onnx_model.score_history(
        answer.history(onnx_model, index, r[0], r[1])
    )
    cells: dict[str, Callable[[], list[float]]] = {}
    for name, reqs in requests.items():
        cells[f"answer: {name}"] = functools.partial(timed, functools.partial(serve, model, index), reqs)
    for name, bodies in wire.items():
        cells[name] = functools.partial(timed_handler, handlers, bodies)
    for name, call in step_calls.items():
        cells[name] = functools.partial(timed, call, requests["filter+promo"])
    for cell in cells.values():  # warm-up: ONNX session, caches
        cell()
    samples: dict[str, list[list[float]]] = {name: [] for name in cells}
    order = list(cells)
    for rnd in range(args.rounds):
        for name in order if rnd % 2 == 0 else order[::-1]:
            samples[name].append(cells[name]())
    print(
        f"\nIn process, {len(index):,} items, {len(requests['plain'])} users, {args.rounds} rounds, thread CPU "
        f"per request; load average {os.getloadavg()[0]:.1f}\n"
    )
    medians = {name: statistics.median(statistics.median(r) for r in rounds) for name, rounds in samples.items()}
    print("| cell | p50 µs (median of rounds) | p99 µs | over plain µs |")
    print("|---|---:|---:|---:|")
    for name, rounds in samples.items():
        every = [v for r in rounds for v in r]
        kind, _, scenario = name.partition(": ")
        plain = medians.get(f"{kind}: plain") if scenario in requests else None
        extra = "" if plain is None else f"{(medians[name] - plain) * 1e6:+.0f}"
        print(f"| {name} | {medians[name] * 1e6:.0f} | {pct(every, 0.99) * 1e6:.0f} | {extra} |")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(3):
            cells[args.profile]()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
