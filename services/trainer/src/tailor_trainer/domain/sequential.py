"""The user-personalization / personalized-ranking model: a SASRec-style transformer plus a linear item-item part.

Why a hybrid: on small catalogues with few interactions per user a linear item-item model (EASE) beats a
plain transformer under Personalize's protocol (spec/evaluation-notes.md). Here the transformer reads the
user's recent items (causal self-attention, full-softmax cross-entropy over the whole catalogue, trained on
every prefix of every training sequence, tied input/output item embeddings) and the linear part adds EASE's
item-item weights summed over the user's history with recency-decayed weights (``apply_recency_bias`` /
``recency_mask``). Both stay sequence-aware, and one ONNX graph computes ``scores = logits + beta * linear``.
The mixing weight ``beta`` and the number of epochs are chosen on validation users carved from the training
users, never on the test users.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from tailor_trainer.domain.baselines import MAX_DENSE_ITEMS, ease_matrix
from tailor_trainer.domain.data import FloatArray, IntArray, ItemFeatures, PreparedData
from tailor_trainer.domain.evaluation import EvalSet, evaluate_scores

NEG: Final = -1.0e9
#: Weights of the linear part tried on validation (the transformer's logits have weight 1).
BETAS: Final = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0)
#: Recency decays tried on validation when recency weighting is on (``recency_decay`` < 1).
DECAYS: Final = (0.9, 0.95, 0.98)


@dataclass(frozen=True)
class SeqConfig:
    """Model and training settings (the recipes map Personalize's hyperparameters onto these)."""

    hidden: int = 64
    layers: int = 2
    heads: int = 1
    context: int = 32  # transformer window (Personalize's ``bptt``)
    linear_window: int = 64  # history items the linear part reads
    dropout: float = 0.3
    label_smoothing: float = 0.1
    horizon: int = 1  # targets per position: the next ``horizon`` items, uniformly weighted
    lr: float = 2e-3
    weight_decay: float = 0.01
    batch: int = 128
    max_epochs: int = 12  # the learning-rate schedule anneals over these; early stopping may end sooner
    patience: int = 3  # epochs without a better (smoothed) validation NDCG@10 before training stops
    # Patience counts only epochs after this share of the schedule (the annealing part), and an epoch is judged
    # by the mean validation NDCG@10 of its last ``validation_smoothing`` epochs: ~85 validation users move
    # NDCG@10 by ±0.003-0.005 per epoch while it still rises late in the schedule (EarlyStopping, ADR 0020).
    patience_from: float = 2 / 3
    validation_smoothing: int = 2
    recency_decay: float = 0.95  # per-position weight decay of the linear part; 1.0 = equal weights
    ease_l2: float = 200.0
    linear_neighbours: int = 256  # non-zeros kept per row of the item-item matrix
    use_linear: bool = True
    use_metadata: bool = True
    # Above this many items the loss is a sampled softmax over the batch's targets plus ``sampled_negatives``
    # uniform items (logQ-corrected) instead of the full catalogue: the full softmax's cost grows with the
    # catalogue and dominates an epoch on large ones (docs/adr/0020).
    full_softmax_items: int = 20000
    sampled_negatives: int = 4096
    # Impressions (User-Personalization(-v2), ADR 0022): each item shown with an event and not chosen adds
    # softplus(score(shown) - score(chosen)) to the loss, averaged over the pairs, times this weight; at most
    # ``impression_negatives`` shown items per event. 0 ignores impressions.
    impression_weight: float = 1.0
    impression_negatives: int = 25


@dataclass(frozen=True)
class EpochStat:
    epoch: int
    loss: float
    validation_ndcg_at_10: float
    seconds: float


def _decay_weights(window: int, decay: float) -> FloatArray:
    """Weights by position for a left-padded window: the most recent item (last column) weighs 1."""
    return (decay ** np.arange(window - 1, -1, -1, dtype=np.float64)).astype(np.float32)


def sparsify(b: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    """Keep the ``k`` largest-magnitude weights of each row (EASE rows: history item -> scored items)."""
    n = b.shape[0]
    k = max(1, min(k, n))
    t = torch.from_numpy(b)
    _, idx = torch.topk(t.abs(), k, dim=1)
    vals = torch.gather(t, 1, idx)
    return idx.numpy().astype(np.int64), vals.numpy().astype(np.float32)


class Block(nn.Module):
    """Pre-LayerNorm transformer block with causal, padding-aware self-attention."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q = q.reshape(b, t, h, d // h).transpose(1, 2)
        k = k.reshape(b, t, h, d // h).transpose(1, 2)
        v = v.reshape(b, t, h, d // h).transpose(1, 2)
        att = (q @ k.transpose(2, 3)) / math.sqrt(d // h) + bias[:, None, :, :]
        att = self.drop(torch.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(y))
        out: torch.Tensor = x + self.drop(self.ff2(self.drop(torch.nn.functional.gelu(self.ff1(self.ln2(x))))))
        return out


class SequenceModel(nn.Module):
    """Transformer over item sequences; item vectors = id embedding (+ metadata embedding), tied with the output."""

    causal: torch.Tensor
    off_diagonal: torch.Tensor
    tok_idx: torch.Tensor
    tok_off: torch.Tensor
    has_tok: torch.Tensor
    num: torch.Tensor

    def __init__(self, n_items: int, cfg: SeqConfig, features: ItemFeatures | None) -> None:
        super().__init__()
        d = cfg.hidden
        self.n_items = n_items
        self.context = cfg.context
        self.item = nn.Embedding(n_items + 1, d, padding_idx=n_items)
        nn.init.normal_(self.item.weight, std=0.05)
        with torch.no_grad():
            self.item.weight[n_items].zero_()
        self.position = nn.Parameter(torch.randn(cfg.context, d) * 0.02)
        # Masks as float constants (not bool ops) so the ONNX graph needs no EyeLike/bool kernels.
        self.register_buffer("causal", torch.triu(torch.full((cfg.context, cfg.context), NEG), diagonal=1))
        self.register_buffer("off_diagonal", 1.0 - torch.eye(cfg.context))
        self.bias = nn.Parameter(torch.zeros(n_items))
        self.blocks = nn.ModuleList([Block(d, cfg.heads, cfg.dropout) for _ in range(cfg.layers)])
        self.ln = nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.dropout)
        self.use_meta = features is not None and cfg.use_metadata and not features.empty
        if self.use_meta and features is not None:
            self.n_tokens = features.n_tokens
            self.token = nn.EmbeddingBag(max(features.n_tokens, 1), d, mode="mean")
            nn.init.normal_(self.token.weight, std=0.05)
            self.numeric = nn.Linear(max(features.numeric.shape[1], 1), d, bias=False)
            nn.init.normal_(self.numeric.weight, std=0.02)
            self.register_buffer("tok_idx", torch.from_numpy(features.token_idx.astype(np.int64)))
            self.register_buffer("tok_off", torch.from_numpy(features.token_ptr[:-1].astype(np.int64)))
            has = (np.diff(features.token_ptr) > 0).astype(np.float32)
            self.register_buffer("has_tok", torch.from_numpy(has)[:, None])
            num = features.numeric if features.numeric.shape[1] else np.zeros((n_items, 1), dtype=np.float32)
            self.register_buffer("num", torch.from_numpy(num))

    def item_table(self) -> torch.Tensor:
        """[n_items + 1, d] input/output item vectors (the padding row stays zero)."""
        table = self.item.weight
        if not self.use_meta:
            return table
        meta = self.numeric(self.num)
        if self.n_tokens > 0:
            meta = meta + self.token(self.tok_idx, self.tok_off) * self.has_tok
        return torch.cat([table[:-1] + meta, table[-1:]], dim=0)

    def hidden(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """seq [b, t] left-padded (pad = n_items), t <= context -> hidden states [b, t, d]."""
        t = seq.shape[1]
        pad = (seq == self.n_items).to(table.dtype)
        x = table[seq] * math.sqrt(table.shape[1]) + self.position[self.context - t :][None]
        x = self.drop(x)
        # Causal attention; padded keys are hidden except from themselves (so no row is fully masked).
        causal = self.causal[self.context - t :, self.context - t :]
        off = self.off_diagonal[self.context - t :, self.context - t :]
        bias = causal[None] + pad[:, None, :] * off[None] * NEG
        for block in self.blocks:
            x = block(x, bias)
        out: torch.Tensor = self.ln(x)
        return out

    def logits(self, h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return h @ table[:-1].T + self.bias

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Scores over the catalogue for the last position of each (left-padded) sequence."""
        table = self.item_table()
        h = self.hidden(seq[:, -self.context :], table)
        return self.logits(h[:, -1], table)


class HybridScorer(nn.Module):
    """Inference graph (exported to ONNX): scores[b, n] = transformer logits + beta * recency-weighted EASE."""

    table: torch.Tensor
    weights: torch.Tensor
    lin_idx: torch.Tensor
    lin_val: torch.Tensor

    def __init__(
        self,
        model: SequenceModel | None,
        n_items: int,
        window: int,
        weights: FloatArray,
        lin_idx: IntArray | None,
        lin_val: FloatArray | None,
        beta: float,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.window = window
        self.context = model.context if model is not None else 0
        self.beta = float(beta)
        self.has_model = model is not None
        self.has_linear = lin_idx is not None and lin_val is not None and beta != 0.0
        if model is not None:
            model = model.eval()
            with torch.no_grad():
                table = model.item_table().detach().clone()
            self.model = model
            self.register_buffer("table", table)
        self.register_buffer("weights", torch.from_numpy(weights.astype(np.float32)))
        if self.has_linear and lin_idx is not None and lin_val is not None:
            k = lin_idx.shape[1]
            # Padding row n_items: scatters zero onto item 0.
            idx = np.concatenate([lin_idx, np.zeros((1, k), dtype=np.int64)])
            val = np.concatenate([lin_val * self.beta, np.zeros((1, k), dtype=np.float32)])
            self.register_buffer("lin_idx", torch.from_numpy(idx))
            self.register_buffer("lin_val", torch.from_numpy(val.astype(np.float32)))

    def forward(self, item_sequence: torch.Tensor) -> torch.Tensor:
        b = item_sequence.shape[0]
        scores = torch.zeros((b, self.n_items), dtype=torch.float32)
        if self.has_model:
            seq = item_sequence[:, -self.context :]
            h = self.model.hidden(seq, self.table)
            scores = self.model.logits(h[:, -1], self.table)
        if self.has_linear:
            seq = item_sequence[:, -self.window :]
            idx = self.lin_idx[seq]  # [b, w, k]
            val = self.lin_val[seq] * self.weights[-seq.shape[1] :][None, :, None]
            scores = scores.scatter_add(1, idx.reshape(b, -1), val.reshape(b, -1))
        return scores


class AdamW:
    """Decoupled-weight-decay Adam (Loshchilov & Hutter), written out because ``torch.optim`` imports
    ``torch._dynamo`` on first use: 5-20 s per trainer process on 2 cores, longer than a small training."""

    def __init__(self, params: Sequence[nn.Parameter], lr: float, weight_decay: float) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr = lr
        self.weight_decay = weight_decay
        self.betas = (0.9, 0.999)
        self.eps = 1e-8
        self.step_count = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        b1, b2 = self.betas
        c1 = 1 - b1**self.step_count
        c2 = 1 - b2**self.step_count
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            g = p.grad
            if p.ndim >= 2:
                p.mul_(1 - self.lr * self.weight_decay)
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.addcdiv_(m, (v / c2).sqrt_().add_(self.eps), value=-self.lr / c1)


def one_cycle(step: int, total: int, peak: float, warmup: float = 0.1) -> float:
    """Linear warm-up to ``peak`` over the first ``warmup`` share of steps, then cosine decay to peak/100."""
    w = max(1, int(total * warmup))
    if step < w:
        return peak * (step + 1) / w
    t = min(1.0, (step - w) / max(1, total - w))
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


def left_pad(inputs: Sequence[IntArray], width: int, pad: int) -> npt.NDArray[np.int64]:
    out = np.full((len(inputs), width), pad, dtype=np.int64)
    for r, seq in enumerate(inputs):
        tail = seq[-width:]
        if len(tail):
            out[r, width - len(tail) :] = tail
    return out


def training_windows(
    sequences: Sequence[IntArray], context: int, horizon: int, pad: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every prefix of every sequence as a training target: windows of ``context`` inputs (cut from the end,
    left-padded) and, per position, the next ``horizon`` items (pad where the sequence ends)."""
    xs: list[npt.NDArray[np.int64]] = []
    ys: list[npt.NDArray[np.int64]] = []
    for seq in sequences:
        n = len(seq)
        if n < 2:
            continue
        ext = np.concatenate([seq, np.full(horizon, pad, dtype=np.int64)])
        for end in range(n - 1, 0, -context):
            start = max(0, end - context)
            x = np.full(context, pad, dtype=np.int64)
            x[context - (end - start) :] = seq[start:end]
            y = np.full((context, horizon), pad, dtype=np.int64)
            for j in range(horizon):
                y[context - (end - start) :, j] = ext[start + 1 + j : end + 1 + j]
            xs.append(x)
            ys.append(y)
    if not xs:
        return np.zeros((0, context), dtype=np.int64), np.zeros((0, context, horizon), dtype=np.int64)
    return np.stack(xs), np.stack(ys)


@dataclass
class SeqResult:
    model: SequenceModel | None
    lin_idx: IntArray | None
    lin_val: FloatArray | None
    beta: float
    config: SeqConfig = field(default_factory=SeqConfig)  # as trained (recency decay chosen on validation)
    history: list[EpochStat] = field(default_factory=list)
    validation: dict[str, float] = field(default_factory=dict)
    component_validation: dict[str, dict[str, float]] = field(default_factory=dict)
    stopped: bool = False
    #: Why the transformer's epochs ended: one of ``STOP_REASONS``.
    stop_reason: str = "MAX_EPOCHS"
    #: The epoch whose weights were kept (the last one when nothing was validated).
    best_epoch: int = 0


#: EARLY_STOPPING: validation stopped improving; MAX_EPOCHS: the schedule ran out (or ``fixed_epochs`` ran);
#: MAX_TRAINING_TIME: the deadline cut training short (the only clock-dependent outcome).
STOP_REASONS: Final = ("EARLY_STOPPING", "MAX_EPOCHS", "MAX_TRAINING_TIME")


class EarlyStopping:
    """The stopping rule: which epoch's weights to keep and when to stop, from validation NDCG@10 alone.

    An epoch's score is the mean of the last ``smoothing`` epochs' validation NDCG@10 (fewer at the start), so
    one lucky epoch on a small validation set neither wins nor makes later epochs look stale; patience counts
    only the epochs after ``patience_from`` of the schedule, where the one-cycle learning rate has annealed and
    the curve flattens, so a run never stops before epoch ``ceil(patience_from * epochs) + patience``."""

    def __init__(self, epochs: int, patience: int, patience_from: float, smoothing: int) -> None:
        self.patience = patience
        self.count_from = min(epochs, math.ceil(patience_from * epochs))
        self.smoothing = max(1, smoothing)
        self.scores: list[float] = []
        self.best_score = -math.inf
        self.best_epoch = 0
        self.stale = 0

    def observe(self, ndcg: float) -> bool:
        """Record the next epoch's validation NDCG@10; True when its weights are the new best to keep."""
        self.scores.append(ndcg)
        window = self.scores[-self.smoothing :]
        score = sum(window) / len(window)
        if score > self.best_score:
            self.best_score, self.best_epoch, self.stale = score, len(self.scores), 0
            return True
        if len(self.scores) > self.count_from:
            self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.stale >= self.patience


class NegativeSampler:
    """Candidates of a sampled softmax: the batch's targets plus ``k`` uniform items, with each candidate's
    log inclusion probability (logQ correction), so that popular targets are not over-penalised as negatives."""

    def __init__(self, target_counts: IntArray, k: int, seed: int) -> None:
        self.n = len(target_counts)
        self.k = k
        self.p = torch.from_numpy(target_counts / max(1, int(target_counts.sum()))).float()
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """targets [m] -> (candidates [c], each target's position among them [m], log inclusion prob [c])."""
        negatives = torch.randint(0, self.n, (self.k,), generator=self.generator)
        candidates, inverse = torch.unique(torch.cat([targets, negatives]), return_inverse=True)
        expected = len(targets) * self.p[candidates] + self.k / self.n
        return candidates, inverse[: len(targets)], torch.log(-torch.expm1(-expected))


class ShownNegatives:
    """The items each training row's event was shown and did not choose (``PreparedData.shown_*``), padded per
    batch to the batch's longest list (at most ``k``)."""

    def __init__(self, ptr: IntArray, item: IntArray, k: int) -> None:
        self.ptr, self.item, self.k = ptr, item, k

    @classmethod
    def of(cls, data: PreparedData, cfg: SeqConfig) -> ShownNegatives | None:
        if data.shown_ptr is None or data.shown_item is None or not len(data.shown_item):
            return None
        if cfg.impression_weight <= 0.0 or cfg.impression_negatives <= 0:
            return None
        return cls(data.shown_ptr, data.shown_item, cfg.impression_negatives)

    def __call__(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rows [m] -> (shown item indices [m, k'], mask [m, k'])."""
        r = rows.numpy()
        start = self.ptr[r]
        count = np.minimum(self.ptr[r + 1] - start, self.k)
        width = max(1, int(count.max()) if len(count) else 1)
        mask = np.arange(width)[None, :] < count[:, None]
        negatives = np.where(mask, self.item[np.where(mask, start[:, None] + np.arange(width)[None, :], 0)], 0)
        return torch.from_numpy(negatives.astype(np.int64)), torch.from_numpy(mask)


def impression_loss(
    h: torch.Tensor,
    table: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    shown: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Mean of softplus(score(shown) - score(chosen)) over the (event, shown-not-chosen item) pairs: each shown
    item the user passed over should score below the one chosen in that context (a BPR-style hard negative)."""
    has = mask.any(dim=1)
    if not bool(has.any()):
        return h.sum() * 0.0
    h, targets, shown, mask = h[has], targets[has], shown[has], mask[has].to(h.dtype)
    positive = (h * table[targets]).sum(dim=1) + bias[targets]
    negative = torch.bmm(table[shown], h[:, :, None]).squeeze(2) + bias[shown]
    pairs = nn.functional.softplus(negative - positive[:, None]) * mask
    return pairs.sum() / mask.sum()


def sampled_softmax_loss(
    h: torch.Tensor,
    table: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    sampler: NegativeSampler,
    smooth: float,
) -> torch.Tensor:
    """Cross-entropy over the sampled candidates only (h [m, d], targets [m])."""
    candidates, position, log_q = sampler(targets)
    logits = h @ table[candidates].T + bias[candidates] - log_q
    return nn.functional.cross_entropy(logits, position, label_smoothing=smooth)


def train_step(
    model: SequenceModel,
    opt: AdamW,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: SeqConfig,
    sampler: NegativeSampler | None,
    shown: ShownNegatives | None = None,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """One optimiser step on windows x [b, t] with targets y [b, t, horizon] (pad = n_items); returns the loss.
    With ``shown`` and ``rows`` (each target's row in the training data, [b, t]) the impression term is added."""
    n = model.n_items
    table = model.item_table()
    h = model.hidden(x, table)
    valid = (y != n).any(dim=2)
    target = y[valid]
    if sampler is not None:
        loss = sampled_softmax_loss(h[valid], table, model.bias, target[:, 0], sampler, cfg.label_smoothing)
    elif cfg.horizon == 1:
        # The fused kernel is ~2x faster than log_softmax + gather on a 10k-item catalogue.
        logits = model.logits(h[valid], table)
        loss = nn.functional.cross_entropy(logits, target[:, 0], label_smoothing=cfg.label_smoothing)
    else:
        logits = model.logits(h[valid], table)
        logp = torch.log_softmax(logits, dim=1)
        mask = (target != n).float()
        picked = torch.gather(logp, 1, target.clamp(max=n - 1)) * mask
        nll = -(picked.sum(dim=1) / mask.sum(dim=1))
        smooth = -logp.mean(dim=1)
        loss = ((1 - cfg.label_smoothing) * nll + cfg.label_smoothing * smooth).mean()
    if shown is not None and rows is not None:
        negatives, mask = shown(rows[valid])
        term = impression_loss(h[valid], table, model.bias, target[:, 0], negatives, mask)
        loss = loss + cfg.impression_weight * term
    opt.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_(opt.params, 1.0)
    opt.step()
    return loss


def make_sampler(ys: npt.NDArray[np.int64], n: int, cfg: SeqConfig, seed: int) -> NegativeSampler | None:
    """The sampled softmax's sampler when the catalogue is above ``full_softmax_items`` (single-target training)."""
    if cfg.horizon != 1 or n <= cfg.full_softmax_items:
        return None
    targets = ys[..., 0][ys[..., 0] != n]
    return NegativeSampler(np.bincount(targets, minlength=n), cfg.sampled_negatives, seed)


def _score_fn(module: HybridScorer, width: int) -> Callable[[Sequence[IntArray]], FloatArray]:
    def score(inputs: Sequence[IntArray]) -> FloatArray:
        seq = torch.from_numpy(left_pad(inputs, width, module.n_items))
        with torch.no_grad():
            return np.asarray(module(seq).numpy(), dtype=np.float32)

    return score


def fit_linear(train: PreparedData, cfg: SeqConfig) -> tuple[IntArray, FloatArray]:
    """EASE weights over (at most ``MAX_DENSE_ITEMS`` most popular) items, sparsified to a neighbour table."""
    n = train.n_items
    counts = train.item_counts()
    if n <= MAX_DENSE_ITEMS:
        b = ease_matrix(train, cfg.ease_l2)
        return sparsify(b, cfg.linear_neighbours)
    keep = np.sort(np.argsort(-counts, kind="stable")[:MAX_DENSE_ITEMS])
    idx_small, val_small = sparsify(ease_matrix(train, cfg.ease_l2, keep), cfg.linear_neighbours)
    k = idx_small.shape[1]
    idx = np.zeros((n, k), dtype=np.int64)
    val = np.zeros((n, k), dtype=np.float32)
    idx[keep] = keep[idx_small]
    val[keep] = val_small
    return idx, val


ProgressFn = Callable[[EpochStat], None]
P = ParamSpec("P")
R = TypeVar("R")


def deterministic(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with torch's deterministic kernels: with 2+ threads the CPU's accumulating index backward
    sums in a thread-dependent order, so the same data and seed gave different weights (docs/adr/0020)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        before = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.use_deterministic_algorithms(before)

    return run


@deterministic
def train_hybrid(
    train: PreparedData,
    validation: EvalSet | None,
    cfg: SeqConfig,
    seed: int,
    exclude_seen: bool,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    init: SequenceModel | None = None,
    fixed_epochs: int | None = None,
    deadline: float | None = None,
    refit_epochs: int | None = None,
) -> SeqResult:
    """Fit the linear part, train the transformer (early stopping on validation NDCG@10 of the hybrid by the
    ``EarlyStopping`` rule), pick beta.

    ``fixed_epochs`` trains exactly that many epochs without validation, the schedule annealing over them (UPDATE
    fine-tuning). ``refit_epochs`` trains the first that many epochs of the ``max_epochs`` schedule without
    validation: the refit on all training users for the epoch count that validation chose (ADR 0020 §1).
    ``deadline`` (``time.monotonic()`` value) is a safety net, not the stopping rule: no epoch starts after it,
    and ``stop_reason`` says MAX_TRAINING_TIME when it ended training before validation or the schedule did.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = train.n_items
    lin_idx: IntArray | None = None
    lin_val: FloatArray | None = None
    if cfg.use_linear:
        lin_idx, lin_val = fit_linear(train, cfg)
    width = max(cfg.context, cfg.linear_window)
    linear_scores: FloatArray | None = None
    if validation is not None and cfg.use_linear:
        # The recency decay only reweights the history, so each candidate costs one scoring pass, no refit.
        decays = sorted({cfg.recency_decay, *DECAYS}) if cfg.recency_decay < 1.0 else [cfg.recency_decay]
        best_decay = -1.0
        for decay in decays:
            linear_module = HybridScorer(
                None, n, cfg.linear_window, _decay_weights(cfg.linear_window, decay), lin_idx, lin_val, 1.0
            )
            candidate = _score_fn(linear_module, width)(validation.inputs)
            ndcg = evaluate_scores(candidate, validation, exclude_seen)["normalized_discounted_cumulative_gain_at_10"]
            if ndcg > best_decay:
                best_decay, linear_scores = ndcg, candidate
                cfg = replace(cfg, recency_decay=decay)
    weights = _decay_weights(cfg.linear_window, cfg.recency_decay)
    betas = BETAS if cfg.use_linear else (0.0,)
    result = SeqResult(None, lin_idx, lin_val, 1.0 if cfg.use_linear else 0.0, config=cfg)

    def validate(model: SequenceModel | None) -> dict[float, dict[str, float]]:
        """Validation metrics per beta (each half is scored once, then mixed)."""
        assert validation is not None
        out: dict[float, dict[str, float]] = {}
        if model is None:
            if linear_scores is not None:
                out[1.0] = evaluate_scores(linear_scores, validation, exclude_seen)
            return out
        module = HybridScorer(model, n, cfg.linear_window, weights, None, None, 0.0)
        model_scores = _score_fn(module, width)(validation.inputs)
        for beta in betas:
            scores = model_scores if linear_scores is None or beta == 0.0 else model_scores + beta * linear_scores
            out[beta] = evaluate_scores(scores, validation, exclude_seen)
        return out

    def best_of(per_beta: dict[float, dict[str, float]]) -> tuple[float, float, dict[str, float]]:
        beta = max(per_beta, key=lambda b: per_beta[b]["normalized_discounted_cumulative_gain_at_10"])
        return per_beta[beta]["normalized_discounted_cumulative_gain_at_10"], beta, per_beta[beta]

    if validation is not None and linear_scores is not None:
        result.component_validation["linear"] = validate(None)[1.0]
    seqs = train.sequences()
    xs, ys = training_windows(seqs, cfg.context, cfg.horizon, n)
    model = init if init is not None else SequenceModel(n, cfg, train.features)
    if len(xs) == 0:
        return result
    opt = AdamW(list(model.parameters()), lr=cfg.lr, weight_decay=cfg.weight_decay)
    epochs = fixed_epochs if fixed_epochs is not None else cfg.max_epochs
    best_state, best_beta = None, result.beta
    stopping = EarlyStopping(epochs, cfg.patience, cfg.patience_from, cfg.validation_smoothing)
    steps_per_epoch = math.ceil(len(xs) / cfg.batch)
    total_steps = max(1, steps_per_epoch * epochs)
    if refit_epochs is not None:
        epochs = min(epochs, refit_epochs)
    xt, yt = torch.from_numpy(xs), torch.from_numpy(ys)
    sampler = make_sampler(ys, n, cfg, seed)
    shown = ShownNegatives.of(train, cfg)
    rt: torch.Tensor | None = None
    if shown is not None:
        # The same windows over row numbers: each target's row, whose impression holds its negatives.
        row_seqs = [np.arange(train.user_ptr[u], train.user_ptr[u + 1]) for u in range(train.n_users)]
        rt = torch.from_numpy(training_windows(row_seqs, cfg.context, 1, -1)[1][..., 0])
    for epoch in range(1, epochs + 1):
        t0 = time.monotonic()
        model.train()
        order = torch.from_numpy(rng.permutation(len(xs)))
        total, count = 0.0, 0
        for start in range(0, len(xs), cfg.batch):
            if should_stop is not None and should_stop():
                result.stopped = True
                break
            bi = order[start : start + cfg.batch]
            x, y = xt[bi], yt[bi]
            opt.lr = one_cycle(opt.step_count, total_steps, cfg.lr)
            loss = train_step(model, opt, x, y, cfg, sampler, shown, None if rt is None else rt[bi])
            total += float(loss.detach()) * len(bi)
            count += len(bi)
        model.eval()
        loss_value = total / max(count, 1)
        ndcg = float("nan")
        if validation is not None and fixed_epochs is None and refit_epochs is None:
            per_beta = validate(model)
            ndcg, beta, m = best_of(per_beta)
            if stopping.observe(ndcg):
                best_beta = beta
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                result.validation = m
                result.component_validation["transformer"] = per_beta[0.0]
        stat = EpochStat(epoch, loss_value, ndcg, time.monotonic() - t0)
        result.history.append(stat)
        if progress is not None:
            progress(stat)
        if result.stopped:
            break
        if stopping.should_stop and epoch < epochs:  # patience running out at the last epoch is MAX_EPOCHS
            result.stop_reason = "EARLY_STOPPING"
            break
        if epoch < epochs and deadline is not None and time.monotonic() >= deadline:
            result.stop_reason = "MAX_TRAINING_TIME"
            break
    result.best_epoch = len(result.history)
    if best_state is not None:
        model.load_state_dict(best_state)
        result.beta = best_beta
        result.best_epoch = stopping.best_epoch
    model.eval()
    result.model = model
    return result
