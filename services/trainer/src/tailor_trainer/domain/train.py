"""``train_solution_version``: the single entry point the job runner calls for CreateSolutionVersion.

It applies the solution's data filters and Personalize's data rules, splits users the way the guide does
(90 % train / 10 % test; test users' oldest 90 % as input, newest 10 % as relevant), trains the recipe's model
on the training users (with its own validation users carved from them for early stopping, mixing weights and
HPO), computes the guide's metrics on the test users next to baselines on the same split, and returns a
``TrainedModel`` that ``tailor_trainer.artifacts.export`` writes out. Pure compute: no I/O.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch

from tailor_shared.errors import InvalidInputException
from tailor_trainer.domain import hyperparams as hp
from tailor_trainer.domain.baselines import popularity_scorer
from tailor_trainer.domain.context import (
    USER_FEATURE_WEIGHTS,
    ContextTable,
    context_lift,
    user_lift,
    user_shift,
    user_values,
)
from tailor_trainer.domain.data import (
    FloatArray,
    IntArray,
    Interactions,
    ItemFeatures,
    ItemsTable,
    PreparedData,
    UsersTable,
    excluded_columns,
    history_length_filter,
    item_attribute,
    prepare,
    subset_users,
    without_excluded_columns,
)
from tailor_trainer.domain.evaluation import (
    TEST_FRACTION,
    EvalSet,
    Scorer,
    evaluate,
    evaluate_scores,
    make_eval_set,
    recommend,
    repeat_share,
    split,
    split_users,
)
from tailor_trainer.domain.metrics import METRIC_NAMES, average_rewards_at_k
from tailor_trainer.domain.related import NeighbourTable, fit_similar_items, fit_sims, popularity
from tailor_trainer.domain.sequential import (
    EpochStat,
    HybridScorer,
    SeqConfig,
    SeqResult,
    SequenceModel,
    _decay_weights,
    left_pad,
    train_hybrid,
)

#: Below this share of repeated (user, item) pairs, items are consumed once: serving and evaluation drop the
#: user's own items (docs/adr/0006).
REPEAT_SHARE_FOR_EXCLUSION: Final = 0.05
#: v2 recipes expose no model hyperparameters (L5825); these are the trainer's choices, made on validation
#: users of ml-100k and ml-latest-small (docs/adr/0006).
V2_CONFIG: Final = SeqConfig()
V1_RECENCY_DECAY: Final = V2_CONFIG.recency_decay
UPDATE_EPOCHS: Final = 1
#: Default maximum training time (docs/specs/configuration.md): this many seconds per 100,000 interactions,
#: and never less. A safety net ~20x above a quiet 2-core machine's time, so validation, not the clock, ends
#: training; a busy machine or a huge data set hits it, and the solution version says so.
TRAINING_SECONDS_PER_100K: Final = 1800.0


#: objectiveSensitivity -> weight of the standardised ``itemAttribute`` added to the model's scores, in units of
#: the spread (std across the catalogue) of its relevance scores for training users. Chosen so the steps trade
#: relevance gradually (on the synthetic fixture NDCG@10 keeps ~100 / 95 / 78 % at LOW / MEDIUM / HIGH; a
#: weight of 1 kept 35 %); docs/adr/0020 and docs/benchmarks.md show the trade-off on ml-100k.
OBJECTIVE_WEIGHTS: Final = {"OFF": 0.0, "LOW": 0.1, "MEDIUM": 0.25, "HIGH": 0.5}


def default_max_training_seconds(n_interactions: int, per_100k: float = TRAINING_SECONDS_PER_100K) -> float:
    """The maximum training time when none is configured: ``per_100k`` per 100,000 interactions (at least it)."""
    return per_100k * max(1.0, n_interactions / 100_000)


#: How many of each user's most recent training items are exported for serving.
SERVING_HISTORY = 50


class TrainingStopped(Exception):
    """``should_stop`` asked to stop (StopSolutionVersionCreation); no model is produced."""


@dataclass(frozen=True)
class ProgressEvent:
    """One training epoch (or HPO trial epoch) for logs and progress bars."""

    stage: str  # "hpo", "training", "refit" (ADR 0020 §1), "update"
    epoch: int
    max_epochs: int
    loss: float
    validation_ndcg_at_10: float
    seconds: float
    trial: int | None = None


@dataclass
class TrainedModel:
    """Everything ``artifacts.export`` and the report need; ``kind`` says which payload is set."""

    recipe_arn: str
    recipe: str
    recipe_type: str
    kind: str  # "sequence" | "neighbours" | "popularity" | "trending"
    training_mode: str
    item_ids: npt.NDArray[Any]
    hyperparameters: dict[str, str]
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    history: list[EpochStat]
    item_popularity: FloatArray  # unique users per item in the training data
    item_interactions: IntArray
    item_creation: IntArray
    item_is_new: npt.NDArray[np.bool_]
    latest_interaction_timestamp: int
    exclude_seen: bool
    data_summary: dict[str, Any]
    seed: int
    training_seconds: float = 0.0
    # How training ended (sequence recipes): stopReason (STOP_REASONS), epochs run, maxEpochs, maxTrainingSeconds.
    training_stop: dict[str, Any] = field(default_factory=dict)
    tuned_hpo_params: dict[str, str] | None = None
    # Each training user's most recent items (left-padded with n_items): the runtime's model input for users
    # known at training time, to which it appends their live events (bulk data only counts after training).
    user_ids: npt.NDArray[Any] | None = None
    user_recent: IntArray | None = None
    config: dict[str, Any] = field(default_factory=dict)
    # payloads
    context: dict[str, ContextTable] = field(default_factory=dict)  # sequence recipes: context lift tables
    # Sequence recipes with a Users dataset: lift tables of its fields, already scaled by the validation-chosen
    # weight (empty when validation chose 0 or there is no Users dataset).
    user_features: dict[str, ContextTable] = field(default_factory=dict)
    seq_config: SeqConfig | None = None
    seq_model: SequenceModel | None = None
    lin_idx: IntArray | None = None
    lin_val: FloatArray | None = None
    beta: float = 0.0
    features: ItemFeatures | None = None
    neighbours: NeighbourTable | None = None

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def inference_module(self) -> HybridScorer:
        """The torch graph that is exported to ONNX (sequence recipes)."""
        if self.seq_config is None:
            raise ValueError(f"{self.recipe} has no sequence model")
        cfg = self.seq_config
        return HybridScorer(
            self.seq_model,
            self.n_items,
            cfg.linear_window,
            _decay_weights(cfg.linear_window, cfg.recency_decay),
            self.lin_idx,
            self.lin_val,
            self.beta,
        )

    @property
    def sequence_length(self) -> int:
        cfg = self.seq_config
        return 0 if cfg is None else max(cfg.context, cfg.linear_window)

    def scorer(self) -> Scorer:
        """Catalogue scores for input histories, as serving computes them (used by metrics and batch jobs)."""
        if self.kind == "sequence":
            module = self.inference_module()
            width = self.sequence_length

            def score(inputs: Any) -> FloatArray:
                with torch.no_grad():
                    return np.asarray(module(torch.from_numpy(left_pad(inputs, width, self.n_items))), np.float32)

            return score
        if self.kind == "neighbours" and self.neighbours is not None:
            return self.neighbours.scorer(self.item_popularity)
        pop = self.item_popularity

        def popular(inputs: Any) -> FloatArray:
            return np.broadcast_to(pop, (len(inputs), len(pop))).copy()

        return popular


Progress = Callable[[ProgressEvent], None]


def _emit(progress: Progress | None, stage: str, max_epochs: int, trial: int | None) -> Callable[[EpochStat], None]:
    def on_epoch(stat: EpochStat) -> None:
        if progress is not None:
            progress(
                ProgressEvent(stage, stat.epoch, max_epochs, stat.loss, stat.validation_ndcg_at_10, stat.seconds, trial)
            )

    return on_epoch


def sequence_config(recipe: str, values: Mapping[str, str]) -> SeqConfig:
    """Personalize's hyperparameters mapped onto the hybrid: hidden_dimension -> width, bptt -> transformer
    window, recency_mask / apply_recency_bias -> recency-decayed (true) or equal (false) history weights."""
    if recipe in (hp.UP_V2, hp.PR_V2):
        decay = V2_CONFIG.recency_decay if hp.as_bool(values, "apply_recency_bias") else 1.0
        return replace(V2_CONFIG, recency_decay=decay)
    return replace(
        V2_CONFIG,
        hidden=hp.as_int(values, "hidden_dimension"),
        context=hp.as_int(values, "bptt"),
        recency_decay=V1_RECENCY_DECAY if hp.as_bool(values, "recency_mask") else 1.0,
    )


#: Share of the training users held out for validation when the refit follows (ADR 0020 §1). The served weights
#: then train on those users too, so a larger share costs the served model nothing, while the choices made on them
#: (epochs, beta, recency decay, the Users lift weight) get less noisy: 10 % is ~55 users on ml-latest-small.
REFIT_VALIDATION_SHARE: Final = 0.25


def validation_split(
    train: PreparedData, seed: int, exclude_seen: bool, share: float = TEST_FRACTION
) -> tuple[PreparedData, EvalSet]:
    """Validation users carved from the training users as the guide carves test users (``share`` of them)."""
    keep, held = split_users(train, seed + 7919, share)
    return subset_users(train, keep), make_eval_set(train, held, exclude_seen)


def _check_stop(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise TrainingStopped("training was stopped")


def train_solution_version(
    recipe_arn: str,
    interactions: Interactions,
    items: ItemsTable | None,
    users: UsersTable | None,
    solution_config: Mapping[str, Any],
    perform_hpo: bool,
    training_mode: str,
    previous: TrainedModel | None,
    progress: Progress | None,
    seed: int,
    should_stop: Callable[[], bool] | None = None,
    max_training_seconds: float | None = None,
    max_items: int | None = None,
    refit: bool = True,
) -> TrainedModel:
    """Train one solution version. ``solution_config`` is Personalize's SolutionConfig plus the solution's
    top-level ``eventType`` under the key "eventType". Raises ``DataRuleViolation`` (failureReason text),
    ``InvalidInputException`` for an impossible request, ``TrainingStopped`` when ``should_stop`` fires.
    ``max_training_seconds`` (default: ``default_max_training_seconds`` of the interactions) caps the whole
    training; when it cuts the transformer's epochs, ``training_stop`` says MAX_TRAINING_TIME. ``max_items``
    (default: the recipe's limit, ``hp.max_training_items``) caps the catalogue the model considers. ``refit``
    False serves the validated weights without the refit on all training users (ADR 0020 §1; for comparisons)."""
    started = time.monotonic()
    limit = default_max_training_seconds(len(interactions)) if max_training_seconds is None else max_training_seconds
    deadline = started + limit
    recipe = hp.recipe_name(recipe_arn)
    mode = (training_mode or "FULL").upper()
    values = hp.resolve(recipe, solution_config)
    item_limit = hp.max_training_items(recipe) if max_items is None else max_items
    interactions = without_excluded_columns(interactions, solution_config)
    if recipe not in hp.IMPRESSION_RECIPES:
        interactions = replace(interactions, impression=None)
    torch.manual_seed(seed)
    if mode == "UPDATE":
        if recipe not in hp.UPDATE_RECIPES:
            raise InvalidInputException(f"trainingMode UPDATE is not supported for recipe {recipe_arn}")
        if previous is None or previous.kind != "sequence" or previous.recipe != recipe:
            raise InvalidInputException("trainingMode UPDATE requires an ACTIVE FULL solution version of this solution")
        model = _update(previous, interactions, items, solution_config, progress, seed, should_stop, item_limit, users)
        model.training_stop = {"stopReason": "MAX_EPOCHS", "epochs": len(model.history), "maxEpochs": UPDATE_EPOCHS}
        model.training_seconds = time.monotonic() - started
        return model
    if mode not in ("FULL", "AUTOTRAIN"):
        raise InvalidInputException(f"unknown trainingMode {training_mode}")
    if recipe in hp.SEGMENT_RECIPES:
        from tailor_trainer.domain.affinity import train_affinity  # it builds on this module's helpers

        model = train_affinity(
            recipe_arn, recipe, interactions, items, solution_config, mode, progress, seed, should_stop
        )
        model.training_seconds = time.monotonic() - started
        return model

    uses_metadata = recipe in (hp.UP_V2, hp.PR_V2, hp.UP, hp.PR, hp.SIMILAR_ITEMS)
    data = prepare(interactions, items if uses_metadata else _ids_only(items), solution_config, max_items=item_limit)
    exclude_seen = repeat_share(data) < REPEAT_SHARE_FOR_EXCLUSION
    common = _common(recipe_arn, recipe, mode, data, values, exclude_seen, seed)
    if recipe == hp.TRENDING_NOW:
        freq = values["trend_discovery_frequency"].strip().lower()
        common.config = {
            "trendDiscoveryFrequency": freq,
            "trendDiscoveryFrequencySeconds": hp.TREND_FREQUENCIES.get(freq, 7200),
        }
        common.training_seconds = time.monotonic() - started
        return common

    objective = _objective(recipe, solution_config, items, data.item_ids)
    sp = split(data, seed, exclude_seen)
    train = sp.train
    common.item_popularity = popularity(train)
    pop_metrics = evaluate(popularity_scorer(train)[0], sp.test, exclude_seen)
    common.baselines = {hp.POPULARITY_COUNT: pop_metrics}
    _check_stop(should_stop)

    if recipe == hp.POPULARITY_COUNT:
        common.metrics = pop_metrics
        common.baselines = {}
    elif recipe in hp.SEQUENCE_RECIPES:
        share = REFIT_VALIDATION_SHARE if refit else TEST_FRACTION
        validated = _train_sequence(
            common,
            recipe,
            values,
            train,
            sp.test,
            solution_config,
            perform_hpo,
            progress,
            should_stop,
            deadline,
            refit,
            share,
        )
        if objective is not None:
            apply_objective(common, objective, sp.test)
        common.training_stop["maxTrainingSeconds"] = limit
        common.context = context_lift(interactions, common.item_ids)
        if users is not None:
            _fit_user_features(
                common, train, sp.test, users, excluded_columns(solution_config, "USERS"), validated, share
            )
    else:
        _train_related(common, recipe, values, train, sp.test, solution_config, perform_hpo, should_stop)
    common.data_summary["trainingUsers"] = len(sp.train_users)
    common.data_summary["testUsers"] = len(sp.test)
    common.training_seconds = time.monotonic() - started
    return common


def _ids_only(items: ItemsTable | None) -> ItemsTable | None:
    return None if items is None else ItemsTable(items.item_id, {}, frozenset(), items.creation_timestamp)


def _common(
    recipe_arn: str, recipe: str, mode: str, data: PreparedData, values: dict[str, str], exclude: bool, seed: int
) -> TrainedModel:
    return TrainedModel(
        recipe_arn=recipe_arn,
        recipe=recipe,
        recipe_type=hp.RECIPE_TYPES[recipe],
        kind={hp.TRENDING_NOW: "trending", hp.POPULARITY_COUNT: "popularity"}.get(
            recipe, "sequence" if recipe in hp.SEQUENCE_RECIPES else "neighbours"
        ),
        training_mode=mode,
        item_ids=data.item_ids,
        hyperparameters=values,
        metrics={},
        baselines={},
        history=[],
        item_popularity=popularity(data),
        item_interactions=data.item_counts(),
        item_creation=data.item_creation,
        item_is_new=data.item_is_new,
        latest_interaction_timestamp=int(data.filter_summary.get("latestInteractionTimestamp", 0)),
        exclude_seen=exclude,
        data_summary=dict(data.filter_summary),
        seed=seed,
        features=data.features,
        user_ids=data.user_ids,
        user_recent=left_pad([q[-SERVING_HISTORY:] for q in data.sequences()], SERVING_HISTORY, data.n_items),
    )


def _train_sequence(
    model: TrainedModel,
    recipe: str,
    values: dict[str, str],
    train: PreparedData,
    test: EvalSet,
    solution_config: Mapping[str, Any],
    perform_hpo: bool,
    progress: Progress | None,
    should_stop: Callable[[], bool] | None,
    deadline: float,
    refit: bool,
    share: float,
) -> Scorer:
    """Train (and refit) the hybrid into ``model``, validating on ``share`` of the training users; returns the
    scorer of the weights chosen on validation before the refit, the one model that never saw the validation users
    (for choices made on them afterwards)."""
    if recipe in (hp.UP, hp.PR):
        train = history_length_filter(
            train,
            hp.as_float(values, "min_user_history_length_percentile"),
            hp.as_float(values, "max_user_history_length_percentile"),
        )
    vtrain, vset = validation_split(train, model.seed, model.exclude_seen, share)
    candidates: list[dict[str, str]] = [values]
    tunable = recipe in (hp.UP, hp.PR) and perform_hpo
    if tunable:
        rng = random.Random(model.seed)
        ranges = hp.hpo_ranges(recipe, solution_config)
        for _ in range(hp.max_trials(solution_config) - 1):
            trial = dict(values)
            for r in ranges:
                trial[r.name] = r.sample(rng)
            candidates.append(trial)
    best_score, best = -1.0, None
    trials_run = 0
    for t, values_t in enumerate(candidates):
        _check_stop(should_stop)
        if t > 0 and time.monotonic() >= deadline:
            break  # HPO trials left out by the time limit (the report's trialsRun says how many ran)
        trials_run += 1
        cfg = sequence_config(recipe, values_t)
        stage = "hpo" if tunable else "training"
        result = train_hybrid(
            vtrain,
            vset,
            cfg,
            model.seed + t,
            model.exclude_seen,
            progress=_emit(progress, stage, cfg.max_epochs, t if tunable else None),
            should_stop=should_stop,
            deadline=deadline,
        )
        if result.stopped:
            raise TrainingStopped("training was stopped")
        score = result.validation.get("normalized_discounted_cumulative_gain_at_10", 0.0)
        if score > best_score:
            best_score, best = score, (values_t, t, result)
    assert best is not None
    trial_values, chosen_trial, result = best
    cfg = result.config
    time_cut = result.stop_reason == "MAX_TRAINING_TIME" or trials_run < len(candidates)
    model.training_stop = {
        "stopReason": "MAX_TRAINING_TIME" if time_cut else result.stop_reason,
        "epochs": len(result.history),
        "maxEpochs": cfg.max_epochs,
        "bestEpoch": result.best_epoch,
    }
    validated = _module_scorer(
        HybridScorer(
            result.model,
            model.n_items,
            cfg.linear_window,
            _decay_weights(cfg.linear_window, cfg.recency_decay),
            result.lin_idx,
            result.lin_val,
            result.beta,
        ),
        max(cfg.context, cfg.linear_window),
    )
    if refit:
        _check_stop(should_stop)
        result = _refit(model, train, vtrain, result, model.seed + chosen_trial, progress, should_stop, deadline)
    if tunable:
        model.training_stop["trialsRun"] = trials_run
        model.training_stop["trials"] = len(candidates)
    model.hyperparameters = dict(trial_values)
    if tunable:
        ranges_names = {r.name for r in hp.hpo_ranges(recipe, solution_config)}
        model.tuned_hpo_params = {k: v for k, v in trial_values.items() if k in ranges_names}
    model.seq_config = cfg
    model.seq_model = result.model
    model.lin_idx, model.lin_val, model.beta = result.lin_idx, result.lin_val, result.beta
    model.history = result.history
    model.config = {"beta": result.beta, "validation": result.validation, **_cfg_dict(cfg)}
    model.metrics = evaluate(model.scorer(), test, model.exclude_seen)
    if result.lin_idx is not None:
        linear = HybridScorer(
            None,
            model.n_items,
            cfg.linear_window,
            _decay_weights(cfg.linear_window, cfg.recency_decay),
            result.lin_idx,
            result.lin_val,
            1.0,
        )
        model.baselines["linear item-item (EASE, recency-weighted)"] = evaluate(
            _module_scorer(linear, cfg.linear_window), test, model.exclude_seen
        )
    if result.model is not None:
        alone = HybridScorer(result.model, model.n_items, cfg.context, _decay_weights(1, 1.0), None, None, 0.0)
        model.baselines["transformer alone"] = evaluate(_module_scorer(alone, cfg.context), test, model.exclude_seen)
    return validated


def _refit(
    model: TrainedModel,
    train: PreparedData,
    vtrain: PreparedData,
    chosen: SeqResult,
    seed: int,
    progress: Progress | None,
    should_stop: Callable[[], bool] | None,
    deadline: float,
) -> SeqResult:
    """The standard refit (ADR 0020 §1): train again on all training users, the validation users included, for
    the epoch count validation chose (the same schedule, cut there), with the recency decay and beta chosen on
    validation. ~85 validation users decide only that count and beta, not which noisy epoch's weights are
    served, and the served model has seen 11 % more users. Skipped (the validated weights kept) when the
    validated run's pace says it would not end before the deadline, or when the deadline cuts it."""
    if chosen.model is None or chosen.best_epoch < 1:
        return chosen
    pace = sum(s.seconds for s in chosen.history[: chosen.best_epoch])
    if time.monotonic() + pace * len(train.item) / max(1, len(vtrain.item)) >= deadline:
        model.training_stop["refitEpochs"] = 0
        return chosen
    refit = train_hybrid(
        train,
        None,
        chosen.config,
        seed,
        model.exclude_seen,
        progress=_emit(progress, "refit", chosen.best_epoch, None),
        should_stop=should_stop,
        deadline=deadline,
        refit_epochs=chosen.best_epoch,
    )
    if refit.stopped:
        raise TrainingStopped("training was stopped")
    if refit.stop_reason == "MAX_TRAINING_TIME":
        model.training_stop["refitEpochs"] = 0
        return chosen
    model.training_stop["refitEpochs"] = len(refit.history)
    return replace(refit, beta=chosen.beta, history=chosen.history, validation=chosen.validation)


def _fit_user_features(
    model: TrainedModel,
    train: PreparedData,
    test: EvalSet,
    users: UsersTable,
    excluded: frozenset[str],
    validated: Scorer,
    share: float,
) -> None:
    """The Users dataset as a feature (L5758): lift tables of its fields, with the weight that gives the best
    validation NDCG@10 (lift counted on the validation-training users only, so held-out items don't leak into
    the choice, and scored by ``validated``, the weights that never saw the validation users, not the refit); the
    chosen weight scales the tables fitted on all training users and the test metrics use them. ``share``: the
    validation users' share that ``validated`` was trained without."""
    vtrain, vset = validation_split(train, model.seed, model.exclude_seen, share)
    tables = user_lift(vtrain, users, excluded)
    if not tables or not len(vset):
        return
    scorer = model.scorer()
    base = validated(vset.inputs)
    shift = user_shift(tables, user_values(users, vset.user_ids, excluded), model.n_items)
    scores = {
        w: evaluate_scores(base + w * shift, vset, model.exclude_seen)["normalized_discounted_cumulative_gain_at_10"]
        for w in USER_FEATURE_WEIGHTS
    }
    weight = max(USER_FEATURE_WEIGHTS, key=lambda w: (scores[w], -w))
    model.config["userFeatures"] = {
        "fields": sorted(tables),
        "weight": weight,
        "validation": {str(w): v for w, v in scores.items()},
    }
    if weight == 0.0:
        return
    model.user_features = _scaled_user_lift(train, users, excluded, weight)
    test_shift = user_shift(model.user_features, user_values(users, test.user_ids, excluded), model.n_items)
    model.baselines["without user features"] = dict(model.metrics)
    model.metrics = {**model.metrics, **evaluate_scores(scorer(test.inputs) + test_shift, test, model.exclude_seen)}


def _scaled_user_lift(
    data: PreparedData, users: UsersTable, excluded: frozenset[str], weight: float
) -> dict[str, ContextTable]:
    tables = user_lift(data, users, excluded)
    return {k: replace(t, lift=(weight * t.lift).astype(np.float32)) for k, t in tables.items()}


Objective = tuple[str, str, npt.NDArray[np.float64]]  # itemAttribute, objectiveSensitivity, value per item


def _objective(
    recipe: str, solution_config: Mapping[str, Any], items: ItemsTable | None, item_ids: npt.NDArray[Any]
) -> Objective | None:
    """``optimizationObjective`` of a User-Personalization / Personalized-Ranking solution (L10199), if any."""
    given = solution_config.get("optimizationObjective")
    if recipe not in hp.SEQUENCE_RECIPES or not isinstance(given, Mapping) or not given.get("itemAttribute"):
        return None
    attribute = str(given["itemAttribute"])
    sensitivity = str(given.get("objectiveSensitivity") or "OFF").upper()
    if sensitivity not in OBJECTIVE_WEIGHTS:
        raise InvalidInputException(f"objectiveSensitivity must be one of {', '.join(OBJECTIVE_WEIGHTS)}")
    return attribute, sensitivity, item_attribute(item_ids, items, attribute)


def apply_objective(model: TrainedModel, objective: Objective, test: EvalSet) -> None:
    """Add ``weight x spread x z(itemAttribute)`` to the transformer's output bias, so the exported graph and every
    scorer rank by relevance plus the objective; then report Personalize's ``average_rewards_at_k`` (L10243)."""
    attribute, sensitivity, values = objective
    weight = OBJECTIVE_WEIGHTS[sensitivity]
    spread = 0.0
    if weight > 0.0 and model.seq_model is not None and len(test):
        # The spread of relevance scores (std across items, mean over users) on the training users' inputs.
        sample = model.user_recent[:256] if model.user_recent is not None else None
        inputs = [row[row < model.n_items] for row in sample] if sample is not None else test.inputs[:256]
        spread = float(np.mean(np.std(model.scorer()(inputs), axis=1)))
        std = float(values.std())
        z = (values - values.mean()) / (std if std > 0 else 1.0)
        with torch.no_grad():
            model.seq_model.bias.add_(torch.from_numpy((weight * spread * z).astype(np.float32)))
        model.metrics = evaluate(model.scorer(), test, model.exclude_seen)
    top = recommend(model.scorer(), test.inputs, model.exclude_seen)
    model.metrics["average_rewards_at_k"] = average_rewards_at_k(top, test.relevant, values)
    model.config["optimizationObjective"] = {
        "itemAttribute": attribute,
        "objectiveSensitivity": sensitivity,
        "weight": weight,
        "relevanceSpread": spread,
    }


def _module_scorer(module: HybridScorer, width: int) -> Scorer:
    def score(inputs: Any) -> FloatArray:
        with torch.no_grad():
            return np.asarray(module(torch.from_numpy(left_pad(inputs, width, module.n_items))), np.float32)

    return score


def _cfg_dict(cfg: SeqConfig) -> dict[str, Any]:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}


def _train_related(
    model: TrainedModel,
    recipe: str,
    values: dict[str, str],
    train: PreparedData,
    test: EvalSet,
    solution_config: Mapping[str, Any],
    perform_hpo: bool,
    should_stop: Callable[[], bool] | None,
) -> None:
    def fit(v: Mapping[str, str], data: PreparedData) -> NeighbourTable:
        if recipe == hp.SIMS:
            return fit_sims(
                data,
                hp.as_float(v, "popularity_discount_factor"),
                hp.as_int(v, "min_cointeraction_count"),
                hp.as_float(v, "min_user_history_length_percentile"),
                hp.as_float(v, "max_user_history_length_percentile"),
                hp.as_float(v, "min_item_interaction_count_percentile"),
                hp.as_float(v, "max_item_interaction_count_percentile"),
            )
        return fit_similar_items(
            data,
            hp.as_float(v, "popularity_discount_factor"),
            hp.as_int(v, "item_id_hidden_dim"),
            hp.as_int(v, "item_metadata_hidden_dim"),
            seed=model.seed,
        )

    chosen = values
    if perform_hpo:
        ranges = hp.hpo_ranges(recipe, solution_config)
        if ranges:
            vtrain, vset = validation_split(train, model.seed, model.exclude_seen)
            pop = popularity(vtrain)
            rng = random.Random(model.seed)
            trials = [values]
            for _ in range(hp.max_trials(solution_config) - 1):
                trial = dict(values)
                for r in ranges:
                    trial[r.name] = r.sample(rng)
                trials.append(trial)
            best = -1.0
            for trial in trials:
                _check_stop(should_stop)
                m = evaluate(fit(trial, vtrain).scorer(pop), vset, model.exclude_seen)
                if m["normalized_discounted_cumulative_gain_at_10"] > best:
                    best, chosen = m["normalized_discounted_cumulative_gain_at_10"], trial
            model.tuned_hpo_params = {r.name: chosen[r.name] for r in ranges}
    _check_stop(should_stop)
    model.hyperparameters = dict(chosen)
    model.neighbours = fit(chosen, train)
    model.metrics = evaluate(model.scorer(), test, model.exclude_seen)


def _update(
    previous: TrainedModel,
    interactions: Interactions,
    items: ItemsTable | None,
    solution_config: Mapping[str, Any],
    progress: Progress | None,
    seed: int,
    should_stop: Callable[[], bool] | None,
    max_items: int,
    users: UsersTable | None = None,
) -> TrainedModel:
    """UPDATE: bring new items into the model without retraining (L22690-L22700), until the model holds
    ``max_items`` (L5380; the newest new items first, ``newest_items``).

    The catalogue keeps the previous items' indices and appends new ones; new items' embeddings start at the
    mean item embedding (their metadata embedding, when there is one, then sets them apart) and their output
    bias comes from a fit of the previous biases on log interaction counts; the linear part gets empty rows.
    Then ``UPDATE_EPOCHS`` pass over only the users whose data changed since the previous training, at a
    tenth of the learning rate. Metrics stay those of the FULL version (nothing is re-evaluated).
    """
    assert previous.seq_config is not None and previous.seq_model is not None
    data = prepare(interactions, items, solution_config, known_items=previous.item_ids, max_items=max_items)
    old_n, n = previous.n_items, data.n_items
    cfg = previous.seq_config
    old = previous.seq_model
    fresh = SequenceModel(n, cfg, data.features if old.use_meta else None)
    counts = data.item_counts()
    with torch.no_grad():
        state = old.state_dict()
        item_w = torch.zeros((n + 1, cfg.hidden))
        item_w[:old_n] = state["item.weight"][:old_n]
        seen = torch.from_numpy(previous.item_interactions[:old_n] > 0)
        mean = state["item.weight"][:old_n][seen].mean(dim=0) if seen.any() else torch.zeros(cfg.hidden)
        item_w[old_n:n] = mean
        fresh.item.weight.copy_(item_w)
        old_bias = state["bias"]
        x = torch.log1p(torch.from_numpy(previous.item_interactions[:old_n].astype(np.float32)))
        slope, intercept = _line_fit(x, old_bias)
        new_bias = torch.cat([old_bias, intercept + slope * torch.log1p(torch.from_numpy(counts[old_n:]).float())])
        fresh.bias.copy_(new_bias)
        for name, value in state.items():
            if name.startswith(("blocks.", "ln.", "position")):
                fresh.state_dict()[name].copy_(value)
        if old.use_meta and fresh.use_meta and previous.features is not None and data.features is not None:
            _copy_metadata(old, fresh, previous.features, data.features)
    lin_idx, lin_val = previous.lin_idx, previous.lin_val
    if lin_idx is not None and lin_val is not None and n > old_n:
        k = lin_idx.shape[1]
        lin_idx = np.concatenate([lin_idx, np.zeros((n - old_n, k), dtype=np.int64)])
        lin_val = np.concatenate([lin_val, np.zeros((n - old_n, k), dtype=np.float32)])
    changed_users = np.unique(data.user[data.timestamp > previous.latest_interaction_timestamp])
    changed = subset_users(data, changed_users.astype(np.int64))
    history: list[EpochStat] = []
    if changed.n_users > 0:
        _check_stop(should_stop)
        result = train_hybrid(
            changed,
            None,
            replace(cfg, lr=cfg.lr / 10, use_linear=False),
            seed,
            previous.exclude_seen,
            progress=_emit(progress, "update", UPDATE_EPOCHS, None),
            should_stop=should_stop,
            init=fresh,
            fixed_epochs=UPDATE_EPOCHS,
        )
        if result.stopped:
            raise TrainingStopped("training was stopped")
        history = result.history
    fresh.eval()
    values = dict(previous.hyperparameters)
    model = _common(previous.recipe_arn, previous.recipe, "UPDATE", data, values, previous.exclude_seen, seed)
    model.metrics = dict(previous.metrics)
    model.baselines = dict(previous.baselines)
    model.history = history
    model.seq_config = cfg
    model.seq_model = fresh
    model.lin_idx, model.lin_val, model.beta = lin_idx, lin_val, previous.beta
    model.config = dict(previous.config)
    model.config["updatedFrom"] = {"items": old_n, "newItems": n - old_n, "changedUsers": int(changed.n_users)}
    model.context = context_lift(interactions, model.item_ids)
    # The Users dataset's lift over the grown catalogue, at the weight validation chose for the FULL version.
    weight = float((previous.config.get("userFeatures") or {}).get("weight", 0.0))
    if users is not None and weight > 0.0:
        model.user_features = _scaled_user_lift(data, users, excluded_columns(solution_config, "USERS"), weight)
    return model


def _line_fit(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    if len(x) < 2 or float(x.var()) == 0.0:
        return 0.0, float(y.mean()) if len(y) else 0.0
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
    return slope, float(y.mean() - slope * x.mean())


def _copy_metadata(old: SequenceModel, fresh: SequenceModel, old_f: ItemFeatures, new_f: ItemFeatures) -> None:
    """Carry metadata embeddings over by token name; unseen tokens start at the mean token embedding."""
    position = {name: k for k, name in enumerate(old_f.token_names)}
    w_old = old.token.weight
    mean = w_old[: max(old_f.n_tokens, 1)].mean(dim=0)
    for k, name in enumerate(new_f.token_names):
        j = position.get(name)
        fresh.token.weight[k] = w_old[j] if j is not None else mean
    if old_f.numeric_names == new_f.numeric_names:
        fresh.numeric.weight.copy_(old.numeric.weight)


__all__ = [
    "METRIC_NAMES",
    "ProgressEvent",
    "TrainedModel",
    "TrainingStopped",
    "train_solution_version",
]
