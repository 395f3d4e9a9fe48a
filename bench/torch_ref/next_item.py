#!/usr/bin/env python3
"""A PyTorch reference for next-item prediction with a sampled softmax
(Merlin Models' YoutubeDNNRetrievalModel, recblocks' youtube_dnn) on
recblocks dataset directories, with the exact full-catalogue evaluation of
retrieval.py. One JSON line per run.

  next_item.py --train DIR/train --valid DIR/valid [--threads N] [--epochs 10]
      [--batch-size 1024] [--lr 0.005] [--seed 0] [--dim 64] [--top 64]
      [--l2-norm] [--temperature T] [--num-sampled 100] [--full-softmax]

The model (independent code; statistical agreement with recblocks is the
aim, not weight parity):
  query   retrieval.py's Tower over the columns tagged user (each
          categorical column embedded, one table per domain, --dim wide;
          list columns such as movieId_history mean-pooled; continuous
          columns as values), its MLP (--top, default [64]) with ReLU after
          every layer, the last included (Merlin's MLPBlock([64])).
  output  its own item table W [items, d] (glorot-uniform, limit
          sqrt(6 / (items + d))) and bias b [items] (zeros): no weight tying.
          items = the movieId column's cardinality.
  scores  (x . w_j + b_j) / T; with --l2-norm x and the rows of W are
          L2-normalised first (not the bias).
Training, per batch of B rows (retrieval.py's row order): --num-sampled S
item ids drawn with replacement in proportion to their train counts
(items never in train are never drawn), shared by the batch; logits
[B, 1 + S]: column 0 the row's own item, the others the draws, each minus
log q(item) (q = count / train rows; an unseen positive counts once), a
draw equal to the row's item at -inf; cross-entropy against column 0.
--full-softmax: logits [B, items] without logQ, cross-entropy against the
row's item. Adam is recblocks' (KerasAdam), dense on the tables.
Evaluation: retrieval.py's Catalogue (exact top-10 over train's items, each
user's train items excluded), scores (x . w_j + b_j) / T.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import List

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recblocks_torch as rt  # noqa: E402
from retrieval import ITEM_ID, Catalogue, Columns, Tower  # noqa: E402


class YoutubeDNN(nn.Module):
    def __init__(self, schema, dim: int, top: List[int], seed: int, l2_norm: bool, temperature: float):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.tower = Tower(schema, "user", dim, top, g, relu_last=True)
        width = top[-1]
        items = next(c for c in schema if c.name == ITEM_ID).cardinality
        self.items = items
        limit = math.sqrt(6.0 / (items + width))
        self.w = nn.Parameter(torch.empty(items, width).uniform_(-limit, limit, generator=g))
        self.b = nn.Parameter(torch.zeros(items))
        self.l2_norm = l2_norm
        self.temperature = temperature
        self.columns = self.tower.columns + [ITEM_ID]

    def query(self, batch) -> torch.Tensor:
        x = self.tower(batch)
        return nn.functional.normalize(x, dim=1) if self.l2_norm else x

    def item_rows(self, ids=None) -> torch.Tensor:
        w = self.w if ids is None else self.w.index_select(0, ids)
        return nn.functional.normalize(w, dim=1) if self.l2_norm else w


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--top", type=lambda s: [int(v) for v in s.split(",")], default=[64])
    p.add_argument("--l2-norm", action="store_true")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--num-sampled", type=int, default=100)
    p.add_argument("--full-softmax", action="store_true")
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    train = rt.load_dataset(a.train)
    valid = rt.load_dataset(a.valid)
    cat = Catalogue(train, valid)
    torch.manual_seed(a.seed)
    model = YoutubeDNN(train.schema, a.dim, a.top, a.seed, a.l2_norm, a.temperature)
    tr_cols, va_cols = Columns(train, model.columns), Columns(valid, model.columns)
    items = tr_cols.ids[ITEM_ID]
    counts = torch.bincount(items, minlength=model.items).to(torch.float64)
    log_q = torch.log(counts.clamp_min(1.0) / float(len(items))).to(torch.float32)
    probs = (counts / counts.sum()).to(torch.float32)
    sampler = torch.Generator().manual_seed(a.seed + 1)
    optimizer = rt.KerasAdam(model.parameters(), lr=a.lr)
    n = tr_cols.num_rows
    orders = [torch.from_numpy(rt.epoch_order(n, a.seed, e, True)) for e in range(a.epochs)]
    losses: List[torch.Tensor] = []
    model.train()
    start = time.perf_counter()
    for e in range(a.epochs):
        for begin in range(0, n, a.batch_size):
            rows = orders[e][begin:begin + a.batch_size]
            batch = tr_cols.take(rows)
            t = batch[ITEM_ID]
            optimizer.zero_grad(set_to_none=True)
            x = model.query(batch)
            if a.full_softmax:
                logits = (x @ model.item_rows().t() + model.b) / a.temperature
                loss = nn.functional.cross_entropy(logits, t)
            else:
                s = torch.multinomial(probs, a.num_sampled, replacement=True, generator=sampler)
                pos = (x * model.item_rows(t)).sum(1, keepdim=True) + model.b.index_select(0, t).unsqueeze(1)
                neg = x @ model.item_rows(s).t() + model.b.index_select(0, s).unsqueeze(0)
                logits = torch.cat([pos, neg], dim=1) / a.temperature
                logits = logits - torch.cat([log_q.index_select(0, t).unsqueeze(1),
                                             log_q.index_select(0, s).unsqueeze(0).expand(len(t), -1)], dim=1)
                hits = torch.cat([torch.zeros(len(t), 1, dtype=torch.bool), s.unsqueeze(0) == t.unsqueeze(1)], dim=1)
                logits = logits.masked_fill(hits, float("-inf"))
                loss = nn.functional.cross_entropy(logits, torch.zeros(len(t), dtype=torch.long))
            loss.backward()
            optimizer.step()
            losses.append(loss.detach() * len(rows))
    train_seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        query = model.query(va_cols.take(None))
        ids = torch.from_numpy(cat.ids)
        scores = (query @ model.item_rows(ids).t() + model.b.index_select(0, ids)) / a.temperature
        metrics = cat.metrics(scores)
    steps = (n + a.batch_size - 1) // a.batch_size
    out = {"impl": "torch", "model": "youtube_dnn", "seed": a.seed, "epochs": a.epochs,
           "batch_size": a.batch_size, "lr": a.lr, "threads": torch.get_num_threads(),
           "l2_norm": a.l2_norm, "temperature": a.temperature, "num_sampled": a.num_sampled,
           "sampled": not a.full_softmax, "top": a.top, "dim": a.dim, "train_seconds": train_seconds,
           "train_samples_per_s": n * a.epochs / train_seconds,
           "final_loss": float(sum(losses[-steps:])) / n}
    out.update(metrics)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
