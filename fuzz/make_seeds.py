"""Writes the seed corpora of the fuzz targets: fuzz/corpus/<target>/, small
valid and near-valid inputs (python3 fuzz/make_seeds.py; numpy needed).

Input layouts are documented at the top of each fuzz/<target>.cpp. The
model_json seeds and fuzz/fixtures/model_json/ come from the CLI instead
(fuzz/make_model_seeds.sh), and crash-* seeds are fuzzer findings kept as
regression inputs: this script leaves both alone.
"""

from __future__ import annotations

import io
import json
import pathlib
import re
import struct

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"
SEP = b"\n----\n"


def put(target: str, name: str, data: bytes) -> None:
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def npy_bytes(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    if version is None:
        np.save(buf, array)
    else:
        np.lib.format.write_array(buf, array, version=version)
    return buf.getvalue()


def npy_seeds() -> None:
    put("npy", "f4_2x3.npy", npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3)))
    put("npy", "i4_5.npy", npy_bytes(np.array([1, -2, 3, 0, 7], dtype="<i4")))
    put("npy", "i8_2x2x2.npy", npy_bytes(np.arange(8, dtype="<i8").reshape(2, 2, 2)))
    put("npy", "f8_3.npy", npy_bytes(np.array([0.5, -1e300, np.nan], dtype="<f8")))
    put("npy", "f4_scalar.npy", npy_bytes(np.array(2.5, dtype="<f4")))
    put("npy", "i4_empty.npy", npy_bytes(np.zeros((0, 4), dtype="<i4")))
    put("npy", "v2_f4.npy", npy_bytes(np.ones(3, dtype="<f4"), (2, 0)))
    put("npy", "v3_i4.npy", npy_bytes(np.ones(2, dtype="<i4"), (3, 0)))
    good = npy_bytes(np.arange(12, dtype="<f4").reshape(3, 4))
    put("npy", "truncated.npy", good[:-5])
    put("npy", "fortran.npy", good.replace(b"'fortran_order': False", b"'fortran_order': True "))
    huge = good.replace(b"'shape': (3, 4), ", b"'shape': (16, 288230376151711744), ")
    put("npy", "wrapping_shape.npy", huge)
    put("npy", "descr_f2.npy", good.replace(b"<f4", b"<f2"))


def safetensors_bytes(tensors: dict[str, tuple[str, list[int], bytes]],
                      metadata: dict[str, str] | None = None) -> bytes:
    header: dict = {}
    if metadata:
        header["__metadata__"] = metadata
    data = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds() -> None:
    f32 = np.arange(6, dtype="<f4").tobytes()
    i64 = np.array([1, 2], dtype="<i8").tobytes()
    i32 = np.array([7, 8, 9], dtype="<i4").tobytes()
    bf16 = np.array([0x3F80, 0x4000], dtype="<u2").tobytes()
    put("safetensors", "mixed.safetensors", safetensors_bytes(
        {"i": ("I64", [2], i64), "w": ("F32", [2, 3], f32), "j": ("I32", [3], i32),
         "h": ("BF16", [2], bf16)}, {"format": "recblocks.model", "format_version": "1"}))
    put("safetensors", "empty_tensor.safetensors", safetensors_bytes({"e": ("F32", [0, 4], b"")}))
    put("safetensors", "scalar.safetensors", safetensors_bytes({"s": ("F32", [], f32[:4])}))
    put("safetensors", "no_tensors.safetensors", safetensors_bytes({}, {"k": "v"}))
    good = safetensors_bytes({"w": ("F32", [2, 3], f32)})
    put("safetensors", "short_data.safetensors", good[:-3])
    put("safetensors", "wrong_shape.safetensors", good.replace(b"[2,3]", b"[3,3]"))
    put("safetensors", "huge_header_len.safetensors", struct.pack("<Q", 1 << 62) + good[8:])
    put("safetensors", "huge_offsets.safetensors",
        good.replace(b"[0,24]", b"[0,18446744073709551615]"))
    put("safetensors", "huge_shape.safetensors", good.replace(b"[2,3]", b"[4611686018427387904,4]"))


def schema_seeds() -> None:
    schema = {"format": "recblocks.schema", "version": 1, "columns": [
        {"name": "userId", "dtype": "int32", "tags": ["categorical", "user_id", "user", "id"],
         "domain": {"min": 0, "max": 942, "name": "userId"}, "embedding_dim": 16},
        {"name": "genres", "dtype": "int32", "tags": ["categorical", "list", "item"],
         "is_list": True, "is_ragged": True, "value_count": {"min": 1, "max": 6},
         "domain": {"min": 0, "max": 20}},
        {"name": "TE_movieId_rating", "dtype": "float32", "tags": ["continuous", "item"]},
        {"name": "rating_binary", "dtype": "int32", "tags": ["target", "binary_classification"]},
    ]}
    put("schema_json", "recblocks.json", json.dumps(schema, indent=1).encode())
    test = (pathlib.Path(__file__).resolve().parent.parent / "tests" / "schema" /
            "schema_test.cpp").read_text()
    merlin = re.search(r'kMerlinSchema = R"\((.*?)\)";', test, re.S)
    if merlin:
        put("schema_json", "merlin.json", merlin.group(1).encode())
    put("schema_json", "huge_domain.json",
        json.dumps(dict(schema, columns=[dict(schema["columns"][0], domain={"min": 0, "max": 2**58 - 1})])).encode())
    put("schema_json", "overflow_number.json",
        json.dumps(dict(schema, columns=[dict(schema["columns"][2])])).replace("continuous", "continuous\"], \"x\": [1e400, \"").encode())
    put("schema_json", "not_json.json", b'{"columns": [{"name": "a", ')


def schema_pbtxt_seeds() -> None:
    test = (pathlib.Path(__file__).resolve().parent.parent / "tests" / "schema" /
            "merlin_test.cpp").read_text()
    for name, var in [("movielens_merlin.pbtxt", "kMovieLensPbtxt"),
                      ("criteo_expanded.pbtxt", "kCriteoPbtxt")]:
        found = re.search(var + r' = R"schema\((.*?)\)schema";', test, re.S)
        if found:
            put("schema_pbtxt", name, found.group(1).encode())
    struct = ('feature {\n  name: "x"\n  type: INT\n  int_domain { max: 9 is_categorical: true }\n'
              '  annotation {\n    tag: "item"\n    extra_metadata {\n'
              '      [type.googleapis.com/google.protobuf.Struct] {\n'
              '        fields { key: "_dims" value { list_value {'
              ' values { null_value: NULL_VALUE }'
              ' values { list_value { values { number_value: 1 } values { number_value: 5 } } }'
              ' } } }\n'
              '        fields { key: "note" value { string_value: "a\\tb\\303\\251\\u00e9" } }\n'
              '      }\n    }\n  }\n}\n')
    put("schema_pbtxt", "struct_text.pbtxt", struct.encode())
    put("schema_pbtxt", "truncated.pbtxt", struct[: len(struct) // 2].encode())
    put("schema_pbtxt", "list_syntax.pbtxt",
        b'feature: [{name: "a" type: FLOAT annotation <tag: ["continuous", "user"]>},\n'
        b'          {name: \'b\'; type: 2; value_count {min: 0x2 max: 010}}]\n')
    put("schema_pbtxt", "wire_any.pbtxt",
        b'feature { name: "w" type: INT annotation { extra_metadata {\n'
        b'  type_url: "type.googleapis.com/google.protobuf.Struct"\n'
        b'  value: "\\n\\034\\n\\017dtype_item_size'
        b'\\022\\t\\021\\000\\000\\000\\000\\000\\000P@" } } }\n')


def csv_seeds() -> None:
    spec = {"delimiter": ",", "header": True, "columns": [
        {"name": "user", "tags": ["categorical", "user_id"]},
        {"name": "item", "source": "item_id", "tags": ["categorical", "item_id"],
         "categorify": {"min_frequency": 1, "on_oov": "oov"}},
        {"name": "tags", "tags": ["categorical", "list"], "separator": "|"},
        {"name": "price", "tags": ["continuous"], "fill": "0"},
        {"name": "clicked", "tags": ["target", "binary_classification"]},
    ]}
    rows = (b"user,item_id,tags,price,clicked\n"
            b"u1,i1,a|b,1.5,1\n"
            b"u2,i2,,2.5,0\n"
            b"\"u,3\",i1,\"c|\"\"d\"\"\",,1\n"
            b"u1,i3,a,3e2,0\n")
    put("csv", "basic", b"\x00" + json.dumps(spec).encode() + SEP + rows)
    put("csv", "split_tab", b"\x03" + json.dumps(spec).encode() + SEP + rows.replace(b",", b"\t"))
    headerless = dict(spec, header=False,
                      columns=[{k: v for k, v in c.items() if k != "source"} for c in spec["columns"]])
    put("csv", "headerless", b"\x00" + json.dumps(headerless).encode() + SEP + rows.split(b"\n", 1)[1])
    regression = {"columns": [{"name": "x", "tags": ["continuous"], "dtype": "int32"},
                              {"name": "y", "tags": ["target", "regression"]}]}
    put("csv", "int_regression", b"\x00" + json.dumps(regression).encode() + SEP +
        b"x,y\n1,0.5\n-3,2\n2147483647,1e30\n")
    put("csv", "unterminated_quote", b"\x00" + json.dumps(spec).encode() + SEP + rows + b"\"u9,i1")
    put("csv", "nan_value", b"\x00" + json.dumps(spec).encode() + SEP + rows + b"u4,i4,a,nan,2\n")


def movielens_seeds() -> None:
    genres = (b"unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n"
              b"Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\n"
              b"Romance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n")
    items = (b"1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
             b"2|Caf\xe9 (1995)|01-Jan-1995||http://y|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n")
    users = b"1|24|M|technician|85711\n2|53|F|other|94043\n"
    ratings = b"1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t878542960\n2\t2\t1\t876893119\n"
    put("movielens_raw", "ml-100k", b"\x00" + SEP.join([ratings, users, items, genres]))
    put("movielens_raw", "ml-100k_unknown_movie", b"\x00" + SEP.join(
        [ratings + b"1\t99\t5\t1\n", users, items, genres]))
    ml1m_ratings = b"1::1::5::978300760\n1::2::3::978302109\n2::2::4::978301968\n2::1::2::978300275\n"
    ml1m_users = b"1::F::1::10::48067\n2::M::56::16::70072\n"
    ml1m_movies = b"1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure|Fantasy\n"
    put("movielens_raw", "ml-1m", b"\x01" + SEP.join([ml1m_ratings, ml1m_users, ml1m_movies]))
    put("movielens_raw", "ml-1m_bad_age", b"\x01" + SEP.join(
        [ml1m_ratings, ml1m_users.replace(b"::56::", b"::x::"), ml1m_movies]))
    csv_ratings = (b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n"
                   b"6,1,2.5,845553522\n6,3,5.0,845553485\n")
    csv_movies = (b"movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n"
                  b"3,\"Grumpier Old Men, The \"\"2\"\" (1995)\",Comedy|Romance\n")
    put("movielens_raw", "ml-25m", b"\x02" + SEP.join([csv_ratings, csv_movies]))
    put("movielens_raw", "ml-latest-small", b"\x03" + SEP.join([csv_ratings, csv_movies]))
    put("movielens_raw", "ml-latest-small_nan", b"\x03" + SEP.join(
        [csv_ratings + b"1,1,nan,1\n", csv_movies]))


def criteo_seeds() -> None:
    tsv = (b"0\t1\t5\t\t2\t1382\t4\t15\t2\t181\t1\t2\t\t2\t68fd1e64\t80e26c9b\tfb936136\t7b4723c4\t"
           b"25c83c98\t7e0ccccf\tde7995b8\t1f89b562\ta73ee510\ta8cd5504\tb2cb9c98\t37c9c164\t2824a5f6\t"
           b"1adce6ef\t8ba8b39a\t891b62e7\te5ba7672\tf54016b9\t21ddcdc9\tb1252a9d\t07b5194c\t\t3a171ecb\t"
           b"c5c50484\te8b83407\t9727dd16\n")
    tsv2 = tsv.replace(b"0\t1\t5", b"1\t-1\t0", 1)
    put("criteo", "tsv", b"\x01" + tsv + tsv2 + tsv)
    put("criteo", "tsv_auto_threads", b"\x0c" + (tsv + tsv2) * 8)
    put("criteo", "tsv_split_buckets", b"\xa1" + tsv + tsv2 + tsv + tsv2)
    # The first rows of the Criteo sample beside the checkout (../shared), when there.
    sample = pathlib.Path(__file__).resolve().parents[2] / "shared/data/criteo/criteo_sample.txt"
    lines = sample.read_bytes().split(b"\n")[:6] if sample.exists() else []
    if lines:
        put("criteo", "csv_sample", b"\x02" + b"\n".join(lines) + b"\n")
        put("criteo", "csv_sample_minfreq", b"\x70" + b"\n".join(lines) + b"\n")
    put("criteo", "tsv_bad_hex", b"\x01" + tsv.replace(b"68fd1e64", b"68fd1xyz"))
    put("criteo", "tsv_short_line", b"\x01" + tsv + b"1\t2\t3\n")


def parquet_seeds() -> None:
    """Parquet files as pyarrow writes them (pyarrow needed: the project's .venv has it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet_bytes(table, **options) -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **options)
        return sink.getvalue().to_pybytes()

    rows = 12
    nvt = pa.table({
        "userId": pa.array([i % 5 for i in range(rows)], pa.int64()),
        "item": pa.array([i * 3 for i in range(rows)], pa.int32()),
        "price": pa.array([i / 4 for i in range(rows)], pa.float64()),
        "genres": pa.array([[i % 4] * (i % 3) for i in range(rows)], pa.list_(pa.int64())),
        "click": pa.array([i % 2 == 0 for i in range(rows)], pa.bool_()),
    })
    put("parquet", "nvtabular_like.parquet", parquet_bytes(nvt, row_group_size=5))
    put("parquet", "no_statistics.parquet", parquet_bytes(nvt, write_statistics=False))
    put("parquet", "plain_zstd.parquet",
        parquet_bytes(nvt, use_dictionary=False, compression="zstd", row_group_size=4))
    put("parquet", "data_page_v2.parquet", parquet_bytes(nvt, data_page_version="2.0"))
    put("parquet", "every_int.parquet", parquet_bytes(pa.table({
        "i8": pa.array([-1, 2], pa.int8()), "u8": pa.array([0, 255], pa.uint8()),
        "i16": pa.array([-300, 3], pa.int16()), "u32": pa.array([1, 2**32 - 1], pa.uint32()),
        "u64": pa.array([1, 2**63], pa.uint64()), "f32": pa.array([0.5, -1], pa.float32()),
    })))
    put("parquet", "lists.parquet", parquet_bytes(pa.table({
        "large": pa.array([[1, 2], [], [3]], pa.large_list(pa.int32())),
        "fixed": pa.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], pa.list_(pa.float32(), 2)),
        "floats": pa.array([[0.5], [1e300], []], pa.list_(pa.float64())),
    })))
    put("parquet", "nulls.parquet", parquet_bytes(pa.table({
        "x": pa.array([1, None, 3], pa.int64()), "l": pa.array([[1], None, [None]]),
    })))
    put("parquet", "strings.parquet", parquet_bytes(pa.table({"s": ["a", "b"], "x": [1, 2]})))
    put("parquet", "empty_table.parquet", parquet_bytes(nvt.slice(0, 0)))
    good = parquet_bytes(nvt, row_group_size=5)
    put("parquet", "truncated.parquet", good[:len(good) // 2])
    put("parquet", "footer_only.parquet", good[:4] + good[-200:])


def main() -> None:
    npy_seeds()
    safetensors_seeds()
    schema_seeds()
    schema_pbtxt_seeds()
    csv_seeds()
    movielens_seeds()
    criteo_seeds()
    parquet_seeds()
    for d in sorted(ROOT.iterdir()):
        files = list(d.iterdir())
        print(f"{d.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
