#!/usr/bin/env python3
"""A PyTorch reference for in-batch softmax retrieval (Merlin Models'
ItemRetrievalTask) on recblocks dataset directories: matrix factorisation,
a two-tower model and a popularity baseline, with an exact full-catalogue
evaluation (recall, ndcg, mrr, precision at 10). One JSON line per run.

  retrieval.py --train DIR/train --valid DIR/valid --model mf|two_tower|popularity \
      [--threads N] [--epochs 5] [--batch-size 1024] [--lr 0.005] [--seed 0] \
      [--dim 64] [--l2-norm] [--temperature T] [--logq] [--loss softmax|bpr|hinge|logistic]

Models (statistical agreement with recblocks is the aim, not weight parity):
  mf         q = E_user[userId], c = E_item[movieId] (the columns tagged
             id + user / id + item).
  two_tower  a tower per side over the columns tagged user (query) / item
             (candidate): an embedding of every categorical column (one
             table per domain; list columns mean-pooled, an empty row gives
             zeros), every continuous column as one value, concatenated, then
             an MLP [128, 64]: ReLU after the first layer, none after the last.
  popularity the catalogue ranked by train count (descending, ties to the
             lower id).
Tables TruncatedNormal(0, 0.05) (redrawn beyond 2 std, as Keras), Dense
kernels glorot-uniform, biases zero. Adam is recblocks' (Keras' rule, eps
1e-7, dense on the tables): recblocks_torch.KerasAdam.

Training step on a batch of B rows (epoch_order's rows, consecutive chunks,
the last partial batch included):
  S = q c^T [B, B] (q, c L2-normalised with --l2-norm);
  --logq: S[:, j] -= log p_j, p_j = train count of movieId_j / train rows;
  S /= T (--temperature; Merlin applies the logQ correction, a post-logits
  block, before its LogitsTemperatureScaler: (S - log p) / T;
  --logq-after-temperature: S / T - log p);
  accidental hits: S[i, j] = -inf where j != i and movieId_j == movieId_i;
  softmax: mean_i cross_entropy(S[i], i); pairwise (bpr, hinge, logistic):
  the mean over every pair (i, j), j != i, not an accidental hit, of
  -log sigmoid(s_ii - s_ij) / relu(1 - (s_ii - s_ij)) / softplus(s_ij - s_ii).

Evaluation: the catalogue is the sorted unique movieIds of train + valid,
each item's features from its first row (train first, then valid); every
valid row's query scores every catalogue item (no logQ, no temperature:
neither changes a ranking), the items that user rated in train are excluded,
and the valid row's movieId is the one relevant item. Its 0-based rank r
counts the items scored higher plus those scored equal with a lower id (the
top-k rule "ties to the lower id"); a hit is r < 10 (an excluded target is
a miss): recall = 1, ndcg = 1 / log2(r + 2), mrr = 1 / (r + 1), precision
= recall / 10, averaged over the valid rows.

Threads: torch.set_num_threads(--threads); OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS must be set by the caller (before torch loads).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recblocks_torch as rt  # noqa: E402

ITEM_ID = "movieId"


# --------------------------------------------------------------------------
# Columns as tensors
# --------------------------------------------------------------------------


class Columns:
    """The columns a model needs, as torch tensors indexed by row: [N] int64
    ids, [N] float32 values, and ragged list columns as a padded [N, L]
    int64 id matrix (padding id 0) with its [N, L] float32 mask."""

    def __init__(self, data: rt.Dataset, names: Sequence[str]):
        self.num_rows = data.num_rows
        self.ids: Dict[str, torch.Tensor] = {}
        self.values: Dict[str, torch.Tensor] = {}
        self.lists: Dict[str, tuple] = {}
        for name in names:
            c = data.column(name)
            v = np.asarray(data.columns[name])
            if c.is_ragged:
                off = np.asarray(data.offsets[name], dtype=np.int64)
                lengths = np.diff(off)
                width = max(int(lengths.max()) if len(lengths) else 0, 1)
                pos = np.arange(width, dtype=np.int64)
                mask = pos[None, :] < lengths[:, None]
                idx = np.where(mask, off[:-1, None] + pos[None, :], 0)
                ids = np.where(mask, v[np.minimum(idx, max(len(v) - 1, 0))] if len(v) else 0, 0)
                self.lists[name] = (torch.from_numpy(ids.astype(np.int64)),
                                    torch.from_numpy(mask.astype(np.float32)))
            elif c.has_tag("categorical"):
                self.ids[name] = torch.from_numpy(v.astype(np.int64))
            else:
                self.values[name] = torch.from_numpy(v.astype(np.float32))

    def take(self, rows: Optional[torch.Tensor]) -> Dict[str, object]:
        """The batch of `rows` (None: every row)."""
        if rows is None:
            out: Dict[str, object] = dict(self.ids)
            out.update(self.values)
            out.update(self.lists)
            return out
        out = {k: v.index_select(0, rows) for k, v in self.ids.items()}
        out.update({k: v.index_select(0, rows) for k, v in self.values.items()})
        out.update({k: (ids.index_select(0, rows), m.index_select(0, rows))
                    for k, (ids, m) in self.lists.items()})
        return out


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


def truncated_normal_(w: torch.Tensor, g: torch.Generator, std: float = 0.05) -> None:
    """TruncatedNormal(0, std): values beyond 2 std redrawn (Keras)."""
    with torch.no_grad():
        w.normal_(0.0, std, generator=g)
        while True:
            bad = w.abs() > 2 * std
            if not bool(bad.any()):
                break
            w[bad] = torch.randn(int(bad.sum()), generator=g) * std


def glorot_uniform_(layer: nn.Linear, g: torch.Generator) -> None:
    with torch.no_grad():
        fan_out, fan_in = layer.weight.shape
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        layer.weight.uniform_(-limit, limit, generator=g)
        layer.bias.zero_()


class Tower(nn.Module):
    """The columns of one side (tagged `side`): embeddings of the categorical
    ones (one table per domain; lists mean-pooled), continuous ones as
    values, concatenated, then an MLP with ReLU between layers and none
    after the last (or after it too, with relu_last). With `mlp` empty: the single id column's embedding (MF)."""

    def __init__(self, schema: Sequence[rt.ColumnInfo], side: str, dim: int, mlp: Sequence[int],
                 g: torch.Generator, relu_last: bool = False):
        super().__init__()
        cols = [c for c in schema if c.has_tag(side) and not c.has_tag("target")]
        if not mlp:  # matrix factorisation: the id column only
            cols = [c for c in cols if c.has_tag("id") and c.has_tag("categorical")]
            if len(cols) != 1:
                raise ValueError("mf: expected one column tagged id + {}, found {}".format(
                    side, [c.name for c in cols]))
        self.categorical = [c.name for c in cols if c.has_tag("categorical")]
        self.continuous = [c.name for c in cols if c.has_tag("continuous")]
        self.is_list = {c.name: c.is_ragged or c.is_list for c in cols}
        self.table_of: Dict[str, str] = {}   # column -> table key (one table per domain)
        self.tables = nn.ModuleDict()          # keys "0", "1", ...: ModuleDict keys cannot hold '.'
        domains: Dict[str, str] = {}
        for c in cols:
            if not c.has_tag("categorical"):
                continue
            if c.cardinality is None:
                raise ValueError("column '{}' has no domain".format(c.name))
            if c.domain_name not in domains:
                key = domains[c.domain_name] = str(len(self.tables))
                self.tables[key] = nn.Embedding(c.cardinality, dim)
                truncated_normal_(self.tables[key].weight, g)
            self.table_of[c.name] = domains[c.domain_name]
        self.layers = nn.ModuleList()
        width = dim * len(self.categorical) + len(self.continuous)
        for units in mlp:
            layer = nn.Linear(width, units)
            glorot_uniform_(layer, g)
            self.layers.append(layer)
            width = units
        self.columns = self.categorical + self.continuous
        self.relu_last = relu_last  # ReLU after the last layer too (Merlin's MLPBlock)

    def forward(self, batch: Dict[str, object]) -> torch.Tensor:
        parts: List[torch.Tensor] = []
        for name in self.categorical:
            table = self.tables[self.table_of[name]]
            if self.is_list[name]:
                ids, mask = batch[name]
                e = table(ids) * mask.unsqueeze(2)                       # [B, L, d]
                parts.append(e.sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0))
            else:
                parts.append(table(batch[name]))
        for name in self.continuous:
            parts.append(batch[name].reshape(-1, 1))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers) or self.relu_last:
                x = torch.relu(x)
        return x


class Retrieval(nn.Module):
    def __init__(self, schema: Sequence[rt.ColumnInfo], kind: str, dim: int, seed: int,
                 l2_norm: bool):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        mlp = [] if kind == "mf" else [128, dim]
        self.query = Tower(schema, "user", dim, mlp, g)
        self.candidate = Tower(schema, "item", dim, mlp, g)
        self.l2_norm = l2_norm

    def encode(self, tower: Tower, batch) -> torch.Tensor:
        x = tower(batch)
        return nn.functional.normalize(x, dim=1) if self.l2_norm else x

    def columns(self) -> List[str]:
        names = self.query.columns + [c for c in self.candidate.columns if c not in self.query.columns]
        return names if ITEM_ID in names else names + [ITEM_ID]


def accidental_hits(items: torch.Tensor):
    """The pairs (i, j), j != i, with items[i] == items[j], as two index
    tensors, without a [B, B] comparison (about 10x cheaper on CPU than
    building and applying the dense mask): the batch sorted by item, each
    run of k equal items gives its k (k - 1) ordered pairs."""
    b = len(items)
    sorted_items, perm = torch.sort(items)
    _, run, counts = torch.unique_consecutive(sorted_items, return_inverse=True, return_counts=True)
    size = counts[run]                                                # [B] run length of each row
    run_start = (torch.cumsum(counts, 0) - counts)[run]               # [B] first sorted position of its run
    a = torch.repeat_interleave(torch.arange(b), size)                # sorted position, k times
    first = torch.cumsum(size, 0) - size
    other = run_start[a] + torch.arange(len(a)) - torch.repeat_interleave(first, size)
    keep = a != other
    return perm[a[keep]], perm[other[keep]]


def batch_loss(q: torch.Tensor, c: torch.Tensor, items: torch.Tensor, loss: str,
               temperature: float, log_p: Optional[torch.Tensor],
               logq_after_temperature: bool = False) -> torch.Tensor:
    """The in-batch loss of one batch; items: [B] movieIds, log_p: [B] log
    popularities of the batch's items (logQ) or None. The scores are
    (q c^T - log p) / T (Merlin's order), or q c^T / T - log p with
    `logq_after_temperature`."""
    s = q @ c.t()                                                     # [B, B]
    if log_p is not None and not logq_after_temperature:
        s = s - log_p.unsqueeze(0)
    if temperature != 1.0:
        s = s / temperature
    if log_p is not None and logq_after_temperature:
        s = s - log_p.unsqueeze(0)
    hit_i, hit_j = accidental_hits(items)
    b = len(items)
    if loss == "softmax":
        # In place: neither the product's nor the division's backward needs s.
        s.index_put_((hit_i, hit_j), torch.tensor(float("-inf"), dtype=s.dtype))
        return nn.functional.cross_entropy(s, torch.arange(b))
    d = s.diagonal().unsqueeze(1) - s                                 # s_ii - s_ij
    if loss == "bpr":
        per = -nn.functional.logsigmoid(d)
    elif loss == "logistic":
        per = nn.functional.softplus(-d)
    elif loss == "hinge":
        per = torch.relu(1.0 - d)
    else:
        raise ValueError("loss '{}'".format(loss))
    # The mean over the valid pairs: every pair less the diagonal and the hits.
    n = b * b - b - len(hit_i)
    total = per.sum() - per.diagonal().sum() - per[hit_i, hit_j].sum()
    return total / max(n, 1)


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------


class Catalogue:
    """The sorted unique movieIds of train + valid, each item's features from
    its first row (train first, then valid), the train counts, and per valid
    row the catalogue positions of the items its user rated in train."""

    def __init__(self, train: rt.Dataset, valid: rt.Dataset, k: int = 10):
        tr_items = np.asarray(train.columns[ITEM_ID], dtype=np.int64)
        va_items = np.asarray(valid.columns[ITEM_ID], dtype=np.int64)
        self.ids = np.unique(np.concatenate([tr_items, va_items]))
        _, first_train = np.unique(tr_items, return_index=True)
        in_train = np.isin(self.ids, tr_items)
        self.rows_train = first_train                                  # ids[in_train], in order
        self.in_train = in_train
        va_unique, first_valid = np.unique(va_items, return_index=True)
        self.rows_valid = first_valid[np.searchsorted(va_unique, self.ids[~in_train])]
        self.counts = np.zeros(len(self.ids), dtype=np.int64)
        ids_tr, cnt = np.unique(tr_items, return_counts=True)
        self.counts[np.searchsorted(self.ids, ids_tr)] = cnt
        # Exclusions: (valid row, catalogue position) of every train item of the row's user.
        tr_users = np.asarray(train.columns["userId"], dtype=np.int64)
        va_users = np.asarray(valid.columns["userId"], dtype=np.int64)
        pos = np.searchsorted(self.ids, tr_items)
        n_users = int(max(tr_users.max(), va_users.max())) + 1
        seen = np.zeros((n_users, len(self.ids)), dtype=bool)
        seen[tr_users, pos] = True
        self.exclude = torch.from_numpy(seen[va_users])                # [V, N]
        self.target = torch.from_numpy(np.searchsorted(self.ids, va_items))
        self.k = k

    def features(self, train_cols: Columns, valid_cols: Columns) -> Dict[str, object]:
        a = train_cols.take(torch.from_numpy(self.rows_train))
        b = valid_cols.take(torch.from_numpy(self.rows_valid))
        out: Dict[str, object] = {}
        order = torch.from_numpy(np.argsort(np.concatenate([
            np.flatnonzero(self.in_train), np.flatnonzero(~self.in_train)]), kind="stable"))
        for name in a:
            if isinstance(a[name], tuple):
                (ia, ma), (ib, mb) = a[name], b[name]
                w = max(ia.shape[1], ib.shape[1])
                pad = lambda t: nn.functional.pad(t, (0, w - t.shape[1]))  # noqa: E731
                out[name] = (torch.cat([pad(ia), pad(ib)])[order], torch.cat([pad(ma), pad(mb)])[order])
            else:
                out[name] = torch.cat([a[name], b[name]])[order]
        return out

    def metrics(self, scores: torch.Tensor) -> Dict[str, float]:
        """scores: [V, N] over the catalogue (positions in id order)."""
        s = scores.to(torch.float64).masked_fill(self.exclude, float("-inf"))
        t = self.target
        st = s.gather(1, t.unsqueeze(1))                                # [V, 1]
        pos = torch.arange(s.shape[1]).unsqueeze(0)
        rank = ((s > st) | ((s == st) & (pos < t.unsqueeze(1)))).sum(1)
        hit = (rank < self.k) & ~self.exclude.gather(1, t.unsqueeze(1)).squeeze(1) \
            & torch.isfinite(st.squeeze(1))
        r = rank.to(torch.float64)
        recall = hit.to(torch.float64)
        ndcg = torch.where(hit, 1.0 / torch.log2(r + 2.0), torch.zeros_like(r))
        mrr = torch.where(hit, 1.0 / (r + 1.0), torch.zeros_like(r))
        return {"recall_at_10": float(recall.mean()), "ndcg_at_10": float(ndcg.mean()),
                "mrr_at_10": float(mrr.mean()), "precision_at_10": float(recall.mean() / self.k)}


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, help="a recblocks dataset directory")
    p.add_argument("--valid", required=True, help="a recblocks dataset directory (the queries)")
    p.add_argument("--model", choices=["mf", "two_tower", "popularity"], required=True)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--l2-norm", action="store_true")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--logq", action="store_true", help="logQ correction: scores (s - log p) / T, as Merlin")
    p.add_argument("--logq-after-temperature", action="store_true",
                   help="with --logq: s / T - log p instead (the correction not scaled by 1 / T)")
    p.add_argument("--loss", choices=["softmax", "bpr", "hinge", "logistic"], default="softmax")
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="initialisation and row order")
    p.add_argument("--epoch-times", action="store_true", help="also the seconds of each epoch")
    p.add_argument("--eval-every-epoch", action="store_true",
                   help="also recall and ndcg at 10 after every epoch (outside the training clock)")
    a = p.parse_args(argv)
    if a.threads is not None:
        torch.set_num_threads(a.threads)

    train = rt.load_dataset(a.train)
    valid = rt.load_dataset(a.valid)
    cat = Catalogue(train, valid)

    if a.model == "popularity":
        scores = torch.from_numpy(cat.counts.astype(np.float64)).unsqueeze(0).expand(len(cat.target), -1)
        out = {"impl": "torch", "model": "popularity", "valid_rows": int(len(cat.target)),
               "catalogue": int(len(cat.ids))}
        out.update(cat.metrics(scores))
        print(json.dumps(out), flush=True)
        return 0

    torch.manual_seed(a.seed)
    model = Retrieval(train.schema, a.model, a.dim, a.seed, a.l2_norm)
    names = model.columns()
    tr_cols, va_cols = Columns(train, names), Columns(valid, names)
    items = tr_cols.ids[ITEM_ID]
    log_p_all = None
    if a.logq:
        counts = torch.bincount(items, minlength=int(items.max()) + 1).to(torch.float32)
        log_p_all = torch.log((counts / float(len(items))).clamp_min(1e-30))
    optimizer = rt.KerasAdam(model.parameters(), lr=a.lr)

    n = tr_cols.num_rows
    orders = [torch.from_numpy(rt.epoch_order(n, a.seed, e, True)) for e in range(a.epochs)]
    def evaluate() -> Dict[str, float]:
        model.eval()
        with torch.no_grad():
            cand = model.encode(model.candidate, cat.features(tr_cols, va_cols))   # [N, d]
            query = model.encode(model.query, va_cols.take(None))                  # [V, d]
            result = cat.metrics(query @ cand.t())
        model.train()
        return result

    model.train()
    losses: List[torch.Tensor] = []
    epoch_seconds: List[float] = []
    per_epoch: List[Dict[str, float]] = []
    paused = 0.0
    start = time.perf_counter()
    for e in range(a.epochs):
        t0 = time.perf_counter()
        for begin in range(0, n, a.batch_size):
            rows = orders[e][begin:begin + a.batch_size]
            batch = tr_cols.take(rows)
            b_items = batch[ITEM_ID]
            optimizer.zero_grad(set_to_none=True)
            q = model.encode(model.query, batch)
            c = model.encode(model.candidate, batch)
            loss = batch_loss(q, c, b_items, a.loss, a.temperature,
                              None if log_p_all is None else log_p_all.index_select(0, b_items),
                              a.logq_after_temperature)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach() * len(rows))
        epoch_seconds.append(time.perf_counter() - t0)
        if a.eval_every_epoch and e + 1 < a.epochs:
            t1 = time.perf_counter()
            per_epoch.append(evaluate())
            paused += time.perf_counter() - t1
    train_seconds = time.perf_counter() - start - paused
    metrics = evaluate()

    out = {"impl": "torch", "model": a.model, "seed": a.seed, "epochs": a.epochs,
           "batch_size": a.batch_size, "lr": a.lr, "threads": torch.get_num_threads(),
           "loss": a.loss, "l2_norm": a.l2_norm, "temperature": a.temperature, "logq": a.logq,
           "logq_after_temperature": a.logq_after_temperature,
           "dim": a.dim, "train_seconds": train_seconds,
           "train_samples_per_s": n * a.epochs / train_seconds if train_seconds > 0 else None,
           # The last epoch's loss, the row-weighted mean over its batches
           # (what recblocks' history reports).
           "final_loss": float(sum(losses[-((n + a.batch_size - 1) // a.batch_size):])) / n if losses else None}
    if a.epoch_times:
        out["epoch_seconds"] = epoch_seconds
    if a.eval_every_epoch:
        per_epoch.append(metrics)
        out["recall_at_10_per_epoch"] = [m["recall_at_10"] for m in per_epoch]
        out["ndcg_at_10_per_epoch"] = [m["ndcg_at_10"] for m in per_epoch]
    out.update(metrics)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
