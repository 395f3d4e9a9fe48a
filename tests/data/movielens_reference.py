#!/usr/bin/env python3
"""Independent reference for the ml-100k import (run by movielens_test.cpp).

Reads the raw ml-100k files and recblocks' output directory (train/, valid/,
etl/) with numpy only, and checks:
  1. the join: every output row maps back (through the saved vocabularies)
     to a rating of u.data with its user's demographics from u.user and its
     movie's title (latin-1) and genres from u.item/u.genre; train + valid
     hold exactly the ratings of u.data;
  2. the target encodings: out of fold on train, with the fold of train row
     i = mix64(mix64(seed) + i) % kfold recomputed here from the documented
     formula, smoothed (sum + p * mean) / (count + p), then z-scored with
     the train encodings' mean and std (ddof=1); valid with full-train
     statistics and the same mean/std.
Prints one line per check and exits non-zero on the first mismatch.

usage: movielens_reference.py OUT_DIR RAW_DIR [KFOLD P_SMOOTH FOLD_SEED]
"""
import json
import os
import sys
from collections import Counter

import numpy as np

out_dir, raw_dir = sys.argv[1], sys.argv[2]
kfold = int(sys.argv[3]) if len(sys.argv) > 3 else 5
p_smooth = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
fold_seed = int(sys.argv[5]) if len(sys.argv) > 5 else 42

MASK = (1 << 64) - 1


def fail(msg):
    print("MISMATCH:", msg)
    sys.exit(1)


def load_split(name):
    d = os.path.join(out_dir, name)
    cols = {}
    for f in os.listdir(d):
        if f.endswith(".npy") and not f.endswith(".offsets.npy"):
            cols[f[:-4]] = np.load(os.path.join(d, f))
        if f.endswith(".offsets.npy"):
            cols[f[: -len(".offsets.npy")] + "/offsets"] = np.load(os.path.join(d, f))
    return cols


def vocab(col):
    with open(os.path.join(out_dir, "etl", "categorify", col + ".json"), encoding="utf-8") as f:
        return json.load(f)["keys"]


def keys_array(col):
    """The vocabulary as an object array indexed by id: ids 0, 1 (never
    expected here) -> a sentinel, 2 (out of vocabulary) -> None."""
    return np.array(["<padding>", "<null>", None] + vocab(col), dtype=object)


def decode(name, col, ids, allow_oov):
    keys = keys_array(col)
    low = 2 if allow_oov else 3
    if ids.min() < low or ids.max() >= len(keys):
        fail(f"{name} {col}: ids {ids.min()}..{ids.max()} outside [{low}, {len(keys)})")
    return keys[ids]


def check_equal(name, what, got, want):
    bad = np.flatnonzero(got != want)
    if len(bad):
        i = bad[0]
        fail(f"{name} row {i}: {what} {got[i]!r} != raw {want[i]!r} ({len(bad)} rows differ)")


# --- raw files ---------------------------------------------------------------
ratings = np.loadtxt(os.path.join(raw_dir, "u.data"), dtype=np.int64)
users = {}
with open(os.path.join(raw_dir, "u.user"), encoding="latin-1") as f:
    for line in f:
        uid, age, gender, occ, zipc = line.rstrip("\n").split("|")
        users[int(uid)] = (int(age), gender, occ, zipc)
genre_names = {}
with open(os.path.join(raw_dir, "u.genre"), encoding="latin-1") as f:
    for line in f:
        if line.strip():
            name, idx = line.rstrip("\n").split("|")
            genre_names[int(idx)] = name
movies = {}
with open(os.path.join(raw_dir, "u.item"), encoding="latin-1") as f:
    for line in f:
        parts = line.rstrip("\n").split("|")
        flags = parts[5:]
        movies[int(parts[0])] = (parts[1], [genre_names[g] for g in range(19) if flags[g] == "1"])

train, valid = load_split("train"), load_split("valid")

# --- 1. the join ---------------------------------------------------------------
# Raw tables as arrays indexed by id.
max_user, max_movie = max(users) + 1, max(movies) + 1
user_cols = {c: np.empty(max_user, dtype=object) for c in ("age", "gender", "occupation", "zipcode")}
for uid, (age, gender, occ, zipc) in users.items():
    user_cols["age"][uid], user_cols["gender"][uid] = age, gender
    user_cols["occupation"][uid], user_cols["zipcode"][uid] = occ, zipc
movie_title = np.empty(max_movie, dtype=object)
movie_genres = np.empty(max_movie, dtype=object)
for mid, (title, genres) in movies.items():
    movie_title[mid], movie_genres[mid] = title, "|".join(genres)

oov_rows = 0
encoded = []
for name, split in (("train", train), ("valid", valid)):
    is_valid = name == "valid"
    rating = split["rating"].astype(np.float64)
    check_equal(name, "rating_binary", split["rating_binary"].astype(np.int64),
                (rating > 3).astype(np.int64))
    u = decode(name, "userId", split["userId"], False).astype(np.int64)  # all users are in train
    for c in ("age", "gender", "occupation", "zipcode"):
        check_equal(name, c, decode(name, c, split[c], is_valid), user_cols[c][u])
    m = decode(name, "movieId", split["movieId"], is_valid)
    known = np.array([x is not None for x in m])
    oov_rows += int((~known).sum())
    mk = m[known].astype(np.int64)
    check_equal(name, "title", decode(name, "title", split["title"], is_valid)[known], movie_title[mk])
    g_keys = keys_array("genres")
    g_off = split["genres/offsets"]
    joined = np.array(["|".join(g_keys[split["genres"][g_off[i]:g_off[i + 1]]])
                       for i in np.flatnonzero(known)], dtype=object)
    check_equal(name, "genres", joined, movie_genres[mk])
    m_code = np.where(known, np.array([0 if x is None else x for x in m], dtype=np.int64), 0)
    encoded.append(u * 10**7 + m_code * 10 + rating.astype(np.int64))

# train + valid = u.data, with the movies unseen in train (valid only) as OOV.
movie_vocab = np.zeros(max_movie, dtype=bool)
movie_vocab[np.array(vocab("movieId"), dtype=np.int64)] = True
raw_m = np.where(movie_vocab[ratings[:, 1]], ratings[:, 1], 0)
expected = np.sort(ratings[:, 0] * 10**7 + raw_m * 10 + ratings[:, 2])
if not np.array_equal(np.sort(np.concatenate(encoded)), expected):
    fail(f"train+valid (user, movie, rating) differ from u.data")
if oov_rows == 0:
    fail("expected some valid ratings of movies unseen in train (ml-100k has movies rated once)")
print(f"join: {len(train['rating'])} train + {len(valid['rating'])} valid rows match u.data, "
      f"u.user, u.item ({oov_rows} valid rows rate movies unseen in train)")


# --- 2. target encodings -----------------------------------------------------------
def mix64(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(MASK)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


with np.errstate(over="ignore"):
    n_train = len(train["rating"])
    base = mix64(np.array([fold_seed], dtype=np.uint64))[0]
    folds = (mix64(base + np.arange(n_train, dtype=np.uint64)) % np.uint64(kfold)).astype(np.int64)

y = train["rating"].astype(np.float64)
gm = y.mean()
for col in ["movieId", "userId", "age", "gender", "occupation", "zipcode"]:
    ids = train[col].astype(np.int64)
    card = int(max(ids.max(), valid[col].max())) + 1
    sums = np.bincount(ids, weights=y, minlength=card)
    counts = np.bincount(ids, minlength=card).astype(np.float64)
    fsum = np.zeros((kfold, card))
    fcnt = np.zeros((kfold, card))
    np.add.at(fsum, (folds, ids), y)
    np.add.at(fcnt, (folds, ids), 1.0)
    oof = (sums[ids] - fsum[folds, ids] + p_smooth * gm) / (counts[ids] - fcnt[folds, ids] + p_smooth)
    mean, std = oof.mean(), oof.std(ddof=1)
    want_train = (oof - mean) / std
    got_train = train[f"TE_{col}_rating"].astype(np.float64)
    err = np.abs(got_train - want_train).max()
    if err > 2e-5:
        i = int(np.abs(got_train - want_train).argmax())
        fail(f"train TE_{col}_rating row {i}: {got_train[i]} vs numpy {want_train[i]} (max err {err})")
    vids = valid[col].astype(np.int64)
    enc = (sums + p_smooth * gm) / (counts + p_smooth)
    want_valid = (enc[vids] - mean) / std
    got_valid = valid[f"TE_{col}_rating"].astype(np.float64)
    verr = np.abs(got_valid - want_valid).max()
    if verr > 2e-5:
        i = int(np.abs(got_valid - want_valid).argmax())
        fail(f"valid TE_{col}_rating row {i}: {got_valid[i]} vs numpy {want_valid[i]} (max err {verr})")
    print(f"TE_{col}_rating: train max err {err:.2e}, valid max err {verr:.2e}")
print("OK")
