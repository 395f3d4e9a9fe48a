"""A PyTorch reference for recblocks' DLRM models (pure torch + numpy + safetensors).

It reads recblocks' dataset directories, reproduces the Loader's row order
bit for bit, and builds two models whose forward pass, parameter layout and
optimizers are recblocks' own, so that both sides can train from the same
initial weights on the same rows in the same order:

  SeedDLRM    the seed notebook's custom DLRM (recblocks' cli/architectures.cpp
              seed_dlrm_body + seed_dlrm_task): embeddings of 64 for the
              categorical columns, a bottom MLP [64] on the continuous ones,
              pairwise dot products of the 5 vectors plus the 64-wide
              shortcut (74), top MLP [64, 128, 512], logits / temperature 2,
              a 1-unit Dense, binary cross-entropy on the logits.
  CriteoDLRM  facebookresearch/dlrm's Criteo Kaggle configuration: 26 tables
              of dim 16, bottom 13-512-256-64-16, top 367-512-256-1 (the last
              layer is recblocks' task output Dense(1)), nn.EmbeddingBag with
              sparse gradients and torch.optim.SGD as dlrm_s_pytorch.py.

What recblocks does, and this module copies (see the README for the sources):
  - ContinuousFeatures / EmbeddingFeatures give a dict keyed by column name;
    every aggregation (concat before a Dense, the stack before the dot
    products, the concat after connect_with_shortcut) takes the entries in
    key order (byte order: "C1" < "C10" < "C2" < "deep_continuous";
    "TE_movieId_rating" < "TE_zipcode_rating").
  - The dot products: the vectors in key order, pairs (i, j) with j < i,
    row by row: (1,0), (2,0), (2,1), (3,0), ... (the DLRM reference's
    strict lower triangle).
  - connect_with_shortcut(..., Filter("deep_continuous"), "concat") concats
    {"block": interactions, "deep_continuous": bottom output} in key order:
    the interactions first, then the bottom MLP's output. (facebookresearch/
    dlrm puts the dense vector first, then the interactions, and takes the
    vectors dense-first, then tables in order: a fixed permutation of the
    top MLP's first-layer rows, the same model family.)
  - MLPBlock: ReLU after every layer, the last included; Dense kernels are
    [in, out] (Keras layout), so torch.nn.Linear's weight is the transpose.
  - The task: x * float32(1 / temperature) BEFORE the output Dense(1)
    ("pre"), binary cross-entropy on the logits, mean over the batch.
  - Adam is Keras' (epsilon 1e-7 added to sqrt(v) before the bias
    correction is applied to the step), with dense semantics for embedding
    tables: every row's moments decay every step. SGD is plain w -= lr g.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

# --------------------------------------------------------------------------
# Dataset directories (include/recblocks/data/dataset.h)
# --------------------------------------------------------------------------

SEED_COLUMNS = ["userId", "movieId", "title", "gender", "TE_zipcode_rating",
                "TE_movieId_rating", "rating_binary"]

_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def column_file_stem(name: str) -> str:
    """recblocks' column_file_stem: every byte outside [A-Za-z0-9_-] as %XX."""
    return "".join(chr(b) if b in _SAFE else "%{:02X}".format(b) for b in name.encode("utf-8"))


@dataclass
class ColumnInfo:
    name: str
    dtype: str
    tags: List[str]
    domain_name: Optional[str] = None
    cardinality: Optional[int] = None  # domain max + 1
    is_list: bool = False
    is_ragged: bool = False

    def has_tag(self, tag: str) -> bool:
        return tag in self.tags


@dataclass
class Dataset:
    path: str
    schema: List[ColumnInfo]
    # name -> values (numpy, memory-mapped); ragged list columns also have
    # an entry in `offsets`.
    columns: Dict[str, np.ndarray]
    offsets: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        c = self.schema[0].name
        return len(self.offsets[c]) - 1 if c in self.offsets else len(self.columns[c])

    def column(self, name: str) -> ColumnInfo:
        for c in self.schema:
            if c.name == name:
                return c
        raise KeyError("{}: no column '{}'; columns: {}".format(
            self.path, name, ", ".join(c.name for c in self.schema)))

    def select(self, names: Sequence[str]) -> "Dataset":
        schema = [self.column(n) for n in names]
        return Dataset(self.path, schema, {n: self.columns[n] for n in names},
                       {n: self.offsets[n] for n in names if n in self.offsets})


def load_dataset(path: str, columns: Optional[Sequence[str]] = None) -> Dataset:
    """Reads a recblocks dataset directory: schema.json + <column>.npy
    (+ <column>.offsets.npy for ragged list columns), memory-mapped."""
    with open(os.path.join(path, "schema.json"), encoding="utf-8") as f:
        schema_json = json.load(f)
    schema = []
    for c in schema_json["columns"]:
        dom = c.get("domain")
        schema.append(ColumnInfo(
            name=c["name"], dtype=c["dtype"], tags=list(c.get("tags", [])),
            domain_name=(dom.get("name") or c["name"]) if dom else None,
            cardinality=int(dom["max"]) + 1 if dom else None,
            is_list=bool(c.get("is_list", False)), is_ragged=bool(c.get("is_ragged", False))))
    if columns is not None:
        by_name = {c.name: c for c in schema}
        missing = [n for n in columns if n not in by_name]
        if missing:
            raise KeyError("{}: no column(s) {}; columns: {}".format(
                path, ", ".join(missing), ", ".join(by_name)))
        schema = [by_name[n] for n in columns]
    values, offsets = {}, {}
    for c in schema:
        stem = column_file_stem(c.name)
        values[c.name] = np.load(os.path.join(path, stem + ".npy"), mmap_mode="r")
        if c.is_ragged:
            offsets[c.name] = np.load(os.path.join(path, stem + ".offsets.npy"), mmap_mode="r")
    return Dataset(path, schema, values, offsets)


# --------------------------------------------------------------------------
# The Loader's row order (src/data/loader.cpp detail::shuffle_order)
# --------------------------------------------------------------------------

_M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """The SplitMix64 finaliser of include/recblocks/core/rng.h (Python ints)."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _mix64_np(x: np.ndarray) -> np.ndarray:
    # numpy uint64 arithmetic wraps modulo 2^64, as C++'s does.
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _draws(key: int, n: int) -> np.ndarray:
    """draw_below(key, i) for i = 0 .. n-1: (mix64(key + i) * i) >> 64, the
    high half of a 64 x 64-bit product (Lemire's bounded draw). With i < 2^32
    the product splits into 32-bit halves without overflow."""
    if n >= 1 << 32:
        raise ValueError("epoch_order: {} rows; the vectorised draw needs < 2^32".format(n))
    i = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        r = _mix64_np(np.uint64(key) + i)
    hi, lo = r >> np.uint64(32), r & np.uint64(0xFFFFFFFF)
    # r * i = hi*i*2^32 + lo*i;  >> 64 = (hi*i + (lo*i >> 32)) >> 32, no overflow.
    return ((hi * i + ((lo * i) >> np.uint64(32))) >> np.uint64(32)).astype(np.int64)


def epoch_order(num_rows: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The rows of epoch `epoch` in the order recblocks' Loader yields them
    (Loader::epoch_order): the identity without shuffle, else Fisher-Yates
    from the end whose draw at i is (mix64(key + i) * i) >> 64, key =
    mix64(mix64(seed) + epoch)."""
    order = np.arange(num_rows, dtype=np.int64)
    if not shuffle or num_rows < 2:
        return order
    key = mix64((mix64(seed & _M64) + epoch) & _M64)
    draws = _draws(key, num_rows + 1).tolist()
    o = order.tolist()  # the swaps are sequential; list swaps beat numpy's
    for i in range(num_rows, 1, -1):
        j = draws[i]
        o[i - 1], o[j] = o[j], o[i - 1]
    return np.asarray(o, dtype=np.int64)


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


class MLP(nn.Module):
    """recblocks' MLPBlock with ReLU after every layer (the last included)."""

    def __init__(self, in_features: int, dims: Sequence[int]):
        super().__init__()
        self.layers = nn.ModuleList()
        for d in dims:
            self.layers.append(nn.Linear(in_features, d))
            in_features = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


class RecblocksDLRM(nn.Module):
    """recblocks' dlrm_body (EmbeddingFeatures, ContinuousFeatures -> MLP,
    DotProductInteraction with the deep_continuous shortcut, top MLP)
    followed by a BinaryClassificationTask, optionally with
    LogitsTemperatureScaler as its `pre`.

    Parameter names (`recblocks_parameters()`) are Model::state()'s:
      0/0/embeddings/<domain>                      [cardinality, dim]
      0/0/deep_continuous/1/dense_<i>/{kernel,bias} bottom MLP
      1/dense_<i>/{kernel,bias}                    top MLP
      <target>/binary_classification_task/output/dense_0/{kernel,bias}
    """

    def __init__(self, schema: Sequence[ColumnInfo], embedding_dim: int, bottom: Sequence[int],
                 top: Sequence[int], temperature: Optional[float] = None,
                 target: Optional[str] = None, sparse: bool = False, embedding_bag: bool = False):
        super().__init__()
        if not bottom or bottom[-1] != embedding_dim:
            raise ValueError("DLRM: the bottom MLP must end with the embedding dim {}, got {}".format(
                embedding_dim, list(bottom)))
        features = [c for c in schema if not c.has_tag("target")]
        targets = [c for c in schema if c.has_tag("target")]
        self.categorical = [c.name for c in features if c.has_tag("categorical")]
        self.continuous = [c.name for c in features if c.has_tag("continuous")]
        if target is None:
            binary = [c.name for c in targets
                      if c.has_tag("binary_classification") or c.has_tag("binary")]
            if not binary:
                raise ValueError("no binary target column among {}".format([c.name for c in schema]))
            target = binary[0]
        self.target = target
        # One table per domain, shared by the columns that name it.
        self.column_domain = {}
        self.tables = nn.ModuleDict()
        self.domains: List[str] = []
        for c in features:
            if not c.has_tag("categorical"):
                continue
            if c.cardinality is None:
                raise ValueError("column '{}' has no domain".format(c.name))
            self.column_domain[c.name] = c.domain_name
            if c.domain_name not in self.domains:
                self.domains.append(c.domain_name)
                # nn.ModuleDict keys cannot hold '.', hence the index.
                table = (nn.EmbeddingBag(c.cardinality, embedding_dim, mode="sum", sparse=sparse)
                         if embedding_bag else nn.Embedding(c.cardinality, embedding_dim, sparse=sparse))
                self.tables[str(len(self.domains) - 1)] = table
        self.embedding_bag = embedding_bag
        # Key orders, as recblocks' aggregations sort dict entries by name
        # (std::string's operator<: bytes).
        keys = self.categorical + ["deep_continuous"]
        if len(set(keys)) != len(keys):
            raise ValueError("a categorical column is named 'deep_continuous'")
        self.interaction_order = sorted(keys, key=lambda s: s.encode("utf-8"))
        self.continuous_order = sorted(self.continuous, key=lambda s: s.encode("utf-8"))
        n = len(self.interaction_order)
        li = [i for i in range(n) for j in range(i)]
        lj = [j for i in range(n) for j in range(i)]
        self.register_buffer("pair_i", torch.tensor(li, dtype=torch.long), persistent=False)
        self.register_buffer("pair_j", torch.tensor(lj, dtype=torch.long), persistent=False)
        self.bottom = MLP(len(self.continuous), bottom)
        self.interaction_width = len(li) + embedding_dim
        self.top = MLP(self.interaction_width, top)
        self.output = nn.Linear(top[-1] if top else self.interaction_width, 1)
        # recblocks scales by float(1.0 / temperature) (ops::scale).
        self.inverse_temperature = (None if temperature is None
                                    else float(np.float32(1.0 / temperature)))

    # -- forward ------------------------------------------------------------

    def embed(self, column: str, ids: torch.Tensor) -> torch.Tensor:
        table = self.tables[str(self.domains.index(self.column_domain[column]))]
        if self.embedding_bag:  # one id per bag, as dlrm_s_pytorch.py's offsets
            offsets = torch.arange(ids.shape[0], dtype=torch.long)
            return table(ids, offsets)
        return table(ids)

    def forward(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        """batch: column -> tensor ([B] int64 ids, [B] float32 values). Returns logits [B]."""
        cont = [batch[c].reshape(-1, 1).to(torch.float32) for c in self.continuous_order]
        dense = self.bottom(cont[0] if len(cont) == 1 else torch.cat(cont, dim=1))
        vectors = {c: self.embed(c, batch[c]) for c in self.categorical}
        vectors["deep_continuous"] = dense
        t = torch.stack([vectors[k] for k in self.interaction_order], dim=1)  # [B, n, d]
        # [B, n(n-1)/2]. dlrm_s_pytorch.py takes bmm(t, t^T)[:, li, lj]: the
        # same values, but CPU bmm over many tiny [n, d] matrices is slow
        # (a loop over the batch), and a product of the gathered pairs
        # summed over d is one vectorised pass.
        pairs = (t[:, self.pair_i] * t[:, self.pair_j]).sum(dim=2)
        # sorted(["block", "deep_continuous"]): the interactions first.
        x = self.top(torch.cat([pairs, dense], dim=1))
        if self.inverse_temperature is not None:
            x = x * self.inverse_temperature
        return self.output(x).reshape(-1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="mean")

    # -- recblocks' parameter names ------------------------------------------

    def task_name(self) -> str:
        return "{}/binary_classification_task".format(self.target)

    def recblocks_parameters(self) -> Dict[str, tuple]:
        """recblocks name -> (torch parameter, transposed?): Dense kernels are
        [in, out] in recblocks, nn.Linear.weight is [out, in]."""
        out = {}
        for k, domain in enumerate(self.domains):
            out["0/0/embeddings/" + domain] = (self.tables[str(k)].weight, False)

        def dense(prefix: str, layers):
            for i, layer in enumerate(layers):
                out["{}dense_{}/kernel".format(prefix, i)] = (layer.weight, True)
                out["{}dense_{}/bias".format(prefix, i)] = (layer.bias, False)

        dense("0/0/deep_continuous/1/", self.bottom.layers)
        dense("1/", self.top.layers)
        dense(self.task_name() + "/output/", [self.output])
        return out


class SeedDLRM(RecblocksDLRM):
    """The seed notebook's custom DLRM on SEED_COLUMNS (Adam: dense tables)."""

    def __init__(self, schema: Sequence[ColumnInfo], embedding_dim: int = 64,
                 temperature: float = 2.0, sparse: bool = False):
        names = {c.name for c in schema}
        seed_schema = [c for c in schema if c.name in SEED_COLUMNS] if set(SEED_COLUMNS) <= names \
            else list(schema)
        super().__init__(seed_schema, embedding_dim, [embedding_dim], [64, 128, 512],
                         temperature=temperature, target="rating_binary", sparse=sparse)


class CriteoDLRM(RecblocksDLRM):
    """facebookresearch/dlrm's Criteo Kaggle DLRM (--arch-sparse-feature-size=16
    --arch-mlp-bot=13-512-256-64-16 --arch-mlp-top=512-256-1), with
    nn.EmbeddingBag(mode="sum", sparse=True) tables as dlrm_s_pytorch.py."""

    def __init__(self, schema: Sequence[ColumnInfo], sparse: bool = True):
        super().__init__(schema, 16, [512, 256, 64, 16], [512, 256], temperature=None,
                         target=None, sparse=sparse, embedding_bag=True)


class _RankingBase(nn.Module):
    """What the ranking references share: the schema's feature columns, the
    first binary target, one table per domain, key orders as recblocks'
    aggregations sort dict entries (by bytes), and the task's output unit."""

    def __init__(self, schema: Sequence[ColumnInfo]):
        super().__init__()
        features = [c for c in schema if not c.has_tag("target")]
        self.categorical = [c.name for c in features if c.has_tag("categorical")]
        self.continuous = [c.name for c in features if c.has_tag("continuous")]
        binary = [c.name for c in schema
                  if c.has_tag("target") and (c.has_tag("binary_classification") or c.has_tag("binary"))]
        if not binary:
            raise ValueError("no binary target column among {}".format([c.name for c in schema]))
        self.target = binary[0]
        self.columns = {c.name: c for c in features}
        self.key_order = sorted(self.categorical + self.continuous, key=lambda s: s.encode("utf-8"))

    def make_tables(self, dim_of: Callable[[ColumnInfo], int]) -> Tuple[nn.ModuleDict, List[str]]:
        tables, domains = nn.ModuleDict(), []
        for name in self.categorical:
            c = self.columns[name]
            if c.domain_name not in domains:
                domains.append(c.domain_name)
                tables[str(len(domains) - 1)] = nn.Embedding(c.cardinality, dim_of(c))
        return tables, domains

    def lookup(self, tables: nn.ModuleDict, domains: List[str], column: str, ids: torch.Tensor) -> torch.Tensor:
        return tables[str(domains.index(self.columns[column].domain_name))](ids)

    def inputs(self, tables, domains, batch) -> Dict[str, torch.Tensor]:
        """{column: [B, d]} for the categorical columns and [B, 1] for the continuous ones."""
        out = {c: self.lookup(tables, domains, c, batch[c]) for c in self.categorical}
        for c in self.continuous:
            out[c] = batch[c].reshape(-1, 1).to(torch.float32)
        return out

    def concat(self, values: Dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([values[k] for k in self.key_order], dim=1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="mean")

    def task_name(self) -> str:
        return "{}/binary_classification_task".format(self.target)

    @staticmethod
    def add_dense(out: Dict[str, tuple], prefix: str, layers) -> None:
        for i, layer in enumerate(layers):
            out["{}dense_{}/kernel".format(prefix, i)] = (layer.weight, True)
            out["{}dense_{}/bias".format(prefix, i)] = (layer.bias, False)


def infer_embedding_dim(cardinality: int, multiplier: float = 2.0) -> int:
    """recblocks' (Merlin's) infer_embedding_dim without the multiple of 8."""
    return int(math.ceil(cardinality ** 0.25 * multiplier))


class RecblocksDCN(_RankingBase):
    """recblocks' DCNModel (model/ranking.h), stacked or parallel, full or low
    rank: the embeddings (dims inferred from the cardinalities) and the
    continuous columns concatenated in key order, `depth` cross layers
    x_{l+1} = x0 * (x_l W + b) + x_l (low rank r: W = U V, U [d, r], V [r, d]),
    the deep MLP (ReLU), the output unit."""

    def __init__(self, schema: Sequence[ColumnInfo], depth: int = 2, deep: Sequence[int] = (64, 32),
                 stacked: bool = True, low_rank_dim: int = 0):
        super().__init__(schema)
        self.tables, self.domains = self.make_tables(lambda c: infer_embedding_dim(c.cardinality))
        width = sum(self.tables[str(self.domains.index(self.columns[c].domain_name))].embedding_dim
                    for c in self.categorical) + len(self.continuous)
        self.low_rank = low_rank_dim > 0
        if self.low_rank:
            self.cross = nn.ModuleList([nn.Sequential(nn.Linear(width, low_rank_dim, bias=False),
                                                      nn.Linear(low_rank_dim, width))
                                        for _ in range(depth)])
        else:
            self.cross = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        self.deep = MLP(width, deep)
        self.stacked = stacked
        self.output = nn.Linear(deep[-1] if stacked else width + deep[-1], 1)

    def forward(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0 = self.concat(self.inputs(self.tables, self.domains, batch))
        x = x0
        for layer in self.cross:
            x = x0 * layer(x) + x
        if self.stacked:
            return self.output(self.deep(x)).reshape(-1)
        return self.output(torch.cat([x, self.deep(x0)], dim=1)).reshape(-1)  # keys: cross, deep

    def recblocks_parameters(self) -> Dict[str, tuple]:
        out = {}
        prefix = "0/0/0/categorical/" if self.stacked else "0/0/categorical/"
        for k, domain in enumerate(self.domains):
            out[prefix + domain] = (self.tables[str(k)].weight, False)
        cross = "0/1/" if self.stacked else "1/cross/"
        for l, layer in enumerate(self.cross):
            if self.low_rank:
                out["{}cross_{}/kernel_u".format(cross, l)] = (layer[0].weight, True)
                layer = layer[1]
            out["{}cross_{}/kernel".format(cross, l)] = (layer.weight, True)
            out["{}cross_{}/bias".format(cross, l)] = (layer.bias, False)
        self.add_dense(out, "1/" if self.stacked else "1/deep/", self.deep.layers)
        self.add_dense(out, self.task_name() + "/output/", [self.output])
        return out


class RecblocksDeepFM(_RankingBase):
    """recblocks' DeepFMModel (model/ranking.h): the sum of
      first order: a weight per category (dim-1 tables) + a linear unit on
                   the continuous columns;
      FM: 0.5 * sum_d ((sum_i v_id)^2 - sum_i v_id^2) over the categorical
          embeddings (Rendle's second-order term);
      deep: the embeddings and the continuous columns concatenated in key
            order, an MLP (ReLU), a linear unit;
    then the output unit."""

    def __init__(self, schema: Sequence[ColumnInfo], embedding_dim: int = 64, deep: Sequence[int] = (64,)):
        super().__init__(schema)
        self.weights, self.weight_domains = self.make_tables(lambda c: 1)
        self.tables, self.domains = self.make_tables(lambda c: embedding_dim)
        self.linear = nn.Linear(len(self.continuous), 1) if self.continuous else None
        self.deep = MLP(len(self.categorical) * embedding_dim + len(self.continuous), deep)
        self.deep_out = nn.Linear(deep[-1], 1)
        self.output = nn.Linear(1, 1)
        self.continuous_order = sorted(self.continuous, key=lambda s: s.encode("utf-8"))

    def forward(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        first = sum(self.lookup(self.weights, self.weight_domains, c, batch[c]) for c in self.categorical)
        if self.linear is not None:
            first = first + self.linear(torch.cat(
                [batch[c].reshape(-1, 1).to(torch.float32) for c in self.continuous_order], dim=1))
        values = self.inputs(self.tables, self.domains, batch)
        v = torch.stack([values[c] for c in self.categorical], dim=1)  # [B, n, d]
        fm = 0.5 * (v.sum(dim=1).square() - v.square().sum(dim=1)).sum(dim=1, keepdim=True)
        deep = self.deep_out(self.deep(self.concat(values)))
        return self.output(first + fm + deep).reshape(-1)

    def recblocks_parameters(self) -> Dict[str, tuple]:
        out = {}
        for k, domain in enumerate(self.weight_domains):
            out["first_order/categorical/0/first_order_" + domain] = (self.weights[str(k)].weight, False)
        if self.linear is not None:
            self.add_dense(out, "first_order/continuous/1/", [self.linear])
        for k, domain in enumerate(self.domains):
            out["fm_deep/0/categorical/" + domain] = (self.tables[str(k)].weight, False)
        self.add_dense(out, "fm_deep/1/deep/0/1/", self.deep.layers)
        self.add_dense(out, "fm_deep/1/deep/1/", [self.deep_out])
        self.add_dense(out, self.task_name() + "/output/", [self.output])
        return out


# --------------------------------------------------------------------------
# Weights in recblocks' layout (safetensors)
# --------------------------------------------------------------------------


def export(model: RecblocksDLRM) -> Dict[str, np.ndarray]:
    """The model's weights by recblocks parameter name, in recblocks' layout."""
    out = {}
    for name, (p, transposed) in model.recblocks_parameters().items():
        w = p.detach().cpu()
        out[name] = np.ascontiguousarray((w.t() if transposed else w).numpy().astype(np.float32))
    return out


def load_recblocks_weights(model: RecblocksDLRM, path: str) -> None:
    """Copies a recblocks weights.safetensors into the model; every parameter
    must be there with its shape, and nothing else."""
    from safetensors.numpy import load_file
    state = load_file(path)
    params = model.recblocks_parameters()
    missing = sorted(set(params) - set(state))
    extra = sorted(set(state) - set(params))
    if missing or extra:
        raise ValueError("{}: missing tensors {}, unexpected tensors {}".format(path, missing, extra))
    with torch.no_grad():
        for name, (p, transposed) in params.items():
            t = torch.from_numpy(np.asarray(state[name], dtype=np.float32))
            if transposed:
                t = t.t()
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError("{}: '{}' has shape {}, the model expects {}".format(
                    path, name, list(state[name].shape),
                    list(p.t().shape if transposed else p.shape)))
            p.copy_(t)


def save_weights(model: RecblocksDLRM, path: str) -> None:
    from safetensors.numpy import save_file
    save_file(export(model), path)


def init_like_recblocks(model: RecblocksDLRM, seed: int = 0) -> None:
    """recblocks' initialisers in distribution (not in value): tables
    TruncatedNormal(0, 0.05), Dense kernels glorot-uniform, biases zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, (p, transposed) in model.recblocks_parameters().items():
            if name.endswith("/bias"):
                p.zero_()
            elif name.endswith("/kernel"):
                fan_out, fan_in = p.shape
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                p.uniform_(-limit, limit, generator=g)
            else:
                p.normal_(0.0, 0.05, generator=g)
                while True:  # redraw beyond two standard deviations, as Keras
                    bad = p.abs() > 0.1
                    if not bool(bad.any()):
                        break
                    p[bad] = torch.randn(int(bad.sum()), generator=g) * 0.05


# --------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------


class KerasAdam(torch.optim.Optimizer):
    """recblocks' Adam (Keras' update), dense semantics:
        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    torch.optim.Adam puts eps after the bias correction,
    w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps): in effect
    an eps 1 / sqrt(1 - b2^t) times smaller (31x at t = 1), which matters
    for the small gradients of embedding rows and deep layers: in the
    parity test, 50 steps of torch.optim.Adam drift from recblocks' by 0.45
    of the weights' movement, this rule by 0.01-0.02 (fp32 rounding). The
    constants are float32, as recblocks' (1 - b1 in float32; the step size
    in double from the float32 betas, rounded to float32)."""

    def __init__(self, params, lr: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        f = np.float32
        super().__init__(params, dict(lr=float(f(lr)), beta_1=float(f(beta_1)),
                                      beta_2=float(f(beta_2)), epsilon=float(f(epsilon))))
        self.iterations = 0

    @torch.no_grad()
    def step(self, closure=None):
        self.iterations += 1
        t = float(self.iterations)
        for group in self.param_groups:
            b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
            one_minus_b1 = float(np.float32(1) - np.float32(b1))
            one_minus_b2 = float(np.float32(1) - np.float32(b2))
            step = float(np.float32(group["lr"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)))
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.to_dense() if p.grad.is_sparse else p.grad
                state = self.state[p]
                if not state:
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                m, v = state["m"], state["v"]
                m.mul_(b1).add_(g * one_minus_b1)
                v.mul_(b2).add_(g * g * one_minus_b2)
                p.sub_(step * m / (v.sqrt() + eps))


def load_recblocks_optimizer_state(optimizer: torch.optim.Optimizer, model: RecblocksDLRM,
                                   path: str) -> int:
    """Loads a recblocks optimizer.safetensors (a checkpoint's: slots
    "<parameter>/m" and "<parameter>/v" in recblocks' layout, "iterations")
    into a KerasAdam or plain SGD; returns the iterations."""
    from safetensors.numpy import load_file
    state = load_file(path)
    iterations = int(np.asarray(state["iterations"]).reshape(-1)[0])
    params = model.recblocks_parameters()
    if isinstance(optimizer, KerasAdam):
        optimizer.iterations = iterations
        for name, (p, transposed) in params.items():
            for slot in ("m", "v"):
                key = "{}/{}".format(name, slot)
                if key not in state:
                    raise ValueError("{}: no slot '{}'".format(path, key))
                t = torch.from_numpy(np.array(state[key], dtype=np.float32))
                optimizer.state[p][slot] = (t.t() if transposed else t).contiguous()
    elif isinstance(optimizer, torch.optim.SGD):
        slots = [k for k in state if k != "iterations"]
        if slots:
            raise ValueError("{}: plain SGD has no state, found {}".format(path, slots[:3]))
    else:
        raise ValueError("cannot load recblocks optimizer state into {}".format(type(optimizer).__name__))
    return iterations


def make_optimizer(model: nn.Module, name: str, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return KerasAdam(model.parameters(), lr=lr)
    if name == "sgd":
        # Plain SGD (no momentum) takes sparse gradients: only the touched
        # rows move, which is also exactly the dense update.
        return torch.optim.SGD(model.parameters(), lr=float(np.float32(lr)))
    raise ValueError("optimizer '{}': expected adam or sgd".format(name))


# --------------------------------------------------------------------------
# Batches and training
# --------------------------------------------------------------------------


class Batches:
    """The dataset's columns a model needs as torch tensors (ids int64), cut
    into batches of epoch_order's rows, as recblocks' Loader (drop_last
    false: the last batch may be short)."""

    def __init__(self, data: Dataset, model: RecblocksDLRM):
        self.num_rows = data.num_rows
        self.tensors = {}
        for c in model.categorical:
            self.tensors[c] = torch.from_numpy(np.array(data.columns[c], dtype=np.int64))
        for c in model.continuous:
            self.tensors[c] = torch.from_numpy(np.array(data.columns[c], dtype=np.float32))
        self.labels = torch.from_numpy(np.array(data.columns[model.target], dtype=np.float32))

    def epoch(self, batch_size: int, seed: int, epoch: int, shuffle: bool,
              order: Optional[np.ndarray] = None):
        """The batches of one epoch; `order`: epoch_order's, if computed already."""
        if shuffle:
            order = torch.from_numpy(order if order is not None
                                     else epoch_order(self.num_rows, seed, epoch, True))
        else:
            order = None
        for begin in range(0, self.num_rows, batch_size):
            end = min(begin + batch_size, self.num_rows)
            if order is None:
                yield {k: v[begin:end] for k, v in self.tensors.items()}, self.labels[begin:end]
            else:
                rows = order[begin:end]
                yield ({k: v.index_select(0, rows) for k, v in self.tensors.items()},
                       self.labels.index_select(0, rows))


@dataclass
class TrainResult:
    losses: List[float]
    steps: int
    rows: int
    seconds: float
    first_step_at: Optional[float]  # time.perf_counter() when step 1 began
    last_epoch_loss: float          # row-weighted mean over the last epoch
    order_seconds: float            # computing the shuffled orders (before `seconds`)


def train(model: RecblocksDLRM, data: Dataset, optimizer: torch.optim.Optimizer, batch_size: int,
          epochs: int = 1, seed: int = 0, shuffle: bool = True,
          max_steps: Optional[int] = None, start_step: int = 0,
          epoch_end: Optional[Callable[[int], None]] = None) -> TrainResult:
    """recblocks' Model::fit loop: per step forward, loss (recorded before
    the update, as recblocks' on_batch_end logs["loss"]), backward, update.
    Steps are counted over the whole run, from 0: the first `start_step`
    batches are skipped (resuming from a checkpoint written after them),
    and training stops when `max_steps` steps are done (skipped ones
    included)."""
    import time
    batches = Batches(data, model)
    model.train()
    losses: List[float] = []
    rows = 0
    first = None
    last_epoch_loss = float("nan")
    # The orders first: recblocks' Loader shuffles in ~10 ms per million
    # rows, this Python loop in ~1 s, which is not what is being compared.
    start = time.perf_counter()
    steps_per_epoch = (batches.num_rows + batch_size - 1) // batch_size
    needed = epochs if max_steps is None else min(epochs, -(-max_steps // max(steps_per_epoch, 1)))
    orders = [epoch_order(batches.num_rows, seed, e, True) if shuffle else None for e in range(needed)]
    order_seconds = time.perf_counter() - start
    start = time.perf_counter()
    step = 0
    for e in range(needed):
        total, epoch_rows = 0.0, 0
        for x, y in batches.epoch(batch_size, seed, e, shuffle, orders[e]):
            if max_steps is not None and step >= max_steps:
                break
            step += 1
            if step <= start_step:
                continue
            if first is None:
                first = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(model(x), y)
            loss.backward()
            optimizer.step()
            v = float(loss.item())
            losses.append(v)
            total += v * len(y)
            epoch_rows += len(y)
        rows += epoch_rows
        if epoch_rows:
            last_epoch_loss = total / epoch_rows
        if epoch_end is not None:
            # Outside the training clock: validation after every epoch.
            paused = time.perf_counter()
            epoch_end(e)
            start += time.perf_counter() - paused
            model.train()
        if max_steps is not None and step >= max_steps:
            break
    return TrainResult(losses, len(losses), rows, time.perf_counter() - start, first, last_epoch_loss,
                       order_seconds)


@torch.no_grad()
def predict(model: RecblocksDLRM, data: Dataset, batch_size: int = 8192) -> np.ndarray:
    """sigmoid(logits) of every row, in order."""
    model.eval()
    batches = Batches(data, model)
    with torch.no_grad():
        out = [torch.sigmoid(model(x)) for x, _ in batches.epoch(batch_size, 0, 0, False)]
    model.train()
    return torch.cat(out).numpy()


def build_model(kind: str, schema: Sequence[ColumnInfo], optimizer: str,
                embedding_dim: Optional[int] = None, deep: Optional[Sequence[int]] = None,
                low_rank_dim: int = 0) -> nn.Module:
    """"seed" or "criteo" (DLRMs), or "dcn" / "deepfm" (recblocks' presets:
    DCN stacked with 2 cross layers, deep [64, 32]; DeepFM dim 64, deep
    [64]). Sparse embedding gradients go with SGD only: Adam here has dense
    semantics (as recblocks'), which needs dense gradients."""
    if kind == "seed":
        return SeedDLRM(schema)
    if kind == "criteo":
        return CriteoDLRM(schema, sparse=(optimizer == "sgd"))
    if kind == "dcn":
        return RecblocksDCN(schema, depth=2, deep=deep or (64, 32), low_rank_dim=low_rank_dim)
    if kind == "deepfm":
        return RecblocksDeepFM(schema, embedding_dim=embedding_dim or 64, deep=deep or (64,))
    raise ValueError("model '{}': expected seed, criteo, dcn or deepfm".format(kind))
