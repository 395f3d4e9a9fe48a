"""Model directories: model.json that is not JSON or not a model, unknown
blocks, wrong types, huge dimensions (which must be refused before any
allocation: the address space is capped), shapes that do not match the
weights; missing files. Each case is a copy of {model} with one thing
changed, loaded by `evaluate` or `predict`."""
import re

from corpus import Case
from fixture_edits import blocks_of, copy_of, edit_json, edit_text, replace


def model_case(name, edit, words, command="evaluate", **kwargs):
    argv = (["evaluate", "--model", "{dir}/m", "--data", "{good}/valid", "--no-progress"]
            if command == "evaluate" else
            ["predict", "--model", "{dir}/m", "--data", "{good}/valid", "--out", "{dir}/p"])
    return Case(name, argv, words=words, files={"m": copy_of("model", "", edit)}, **kwargs)


def model_json(change):
    return edit_json("model.json", change)


def top_mlp(change):
    """Edits the config of the top MLP (the last MLPBlock: dimensions [16])."""
    def edit(m):
        change(blocks_of(m["architecture"], "MLPBlock")[-1]["config"])
    return model_json(edit)


def bottom_mlp(change):
    def edit(m):
        change(blocks_of(m["architecture"], "MLPBlock")[0]["config"])
    return model_json(edit)


def embeddings(change):
    def edit(m):
        change(blocks_of(m["architecture"], "EmbeddingFeatures")[0]["config"])
    return model_json(edit)


def set_dims(dims):
    def change(config):
        config["dimensions"] = dims
    return change


def set_dim(dim):
    def change(config):
        config["options"]["dim"] = dim
    return change


def set_c1_domain_max(value):
    def change(config):
        for c in config["schema"]["columns"]:
            if c["name"] == "C1":
                c["domain"]["max"] = value
    return change


def raw_seed(text):
    return edit_text("model.json", lambda s: s.replace('"seed": 0', '"seed": ' + text, 1))


CASES = [
    model_case("model_json_empty", replace("model.json", ""),
               ["model.json: not valid JSON at line 1"]),
    model_case("model_json_not_json", replace("model.json", "architecture = dlrm\n"),
               ["model.json: not valid JSON at line 1", "invalid literal"]),
    model_case("model_json_1e400", raw_seed("1e400"),
               ["model.json: not valid JSON at line", "column", "1e400"]),
    model_case("model_json_duplicate_key", raw_seed('0, "seed": 1'),
               ["model.json", "the key 'seed' appears twice"]),
    model_case("model_json_binary", replace("model.json", b"\x89PNG\r\n\x1a\n\x00\x00"),
               ["model.json: not valid JSON at line 1"]),
    model_case("model_json_missing", replace("model.json", None),
               ["model.json: missing", "is this a model directory?"]),
    model_case("model_not_a_model", model_json(lambda m: m.update(format="keras")),
               ["model.json: not a recblocks model", "\"keras\"", "expected \"recblocks.model\""]),
    model_case("model_format_version_9", model_json(lambda m: m.update(format_version=9)),
               ["model.json: format_version 9 is not supported", "reads version 1"]),
    model_case("model_missing_architecture", model_json(lambda m: m.pop("architecture")),
               ["model.json: 'architecture' is missing"]),
    model_case("model_seed_negative", model_json(lambda m: m.update(seed=-1)),
               ["model.json: 'seed' is -1", "expected a non-negative integer"]),
    model_case("model_seed_a_string", model_json(lambda m: m.update(seed="zero")),
               ["model.json: 'seed' is \"zero\""]),
    model_case("model_unknown_block_type",
               model_json(lambda m: blocks_of(m["architecture"], "MLPBlock")[-1].update(
                   type="NoSuchBlock")),
               ["model.json", "unknown block type 'NoSuchBlock'", "registered: ", "ConcatFeatures"]),
    model_case("model_unknown_config_key", top_mlp(lambda c: c.update(unitz=[16])),
               ["model.json", "unitz"]),
    model_case("model_units_a_string", top_mlp(set_dims(["sixteen"])),
               ["model.json", "dimensions"]),
    model_case("model_units_zero", top_mlp(set_dims([0])),
               ["model.json", "MLPBlock: layer 0 has 0 units", "expected > 0"]),
    model_case("model_units_negative", top_mlp(set_dims([-16])), ["model.json", "-16"]),
    model_case("model_units_1e400",
               edit_text("model.json", lambda s: re.sub(r'"dimensions": \[\s*16\s*\]',
                                                        '"dimensions": [1e400]', s)),
               ["model.json: not valid JSON at line", "1e400"]),
    # 10^9 units: 7.6 GB allocated until killed before; now the weights'
    # header is compared first, and nothing is allocated.
    model_case("model_mlp_of_a_billion_units", top_mlp(set_dims([1000000000])),
               ["weights.safetensors", "tensor '1/dense_0/kernel'", "[359, 16]",
                "[359, 1000000000]", "model.json"]),
    model_case("model_mlp_of_a_billion_units_predict", top_mlp(set_dims([1000000000])),
               ["weights.safetensors", "[359, 1000000000]"], command="predict"),
    # A last layer of 5,000,000 units: 2.5 GB were allocated before the
    # mismatch was reported.
    model_case("model_last_layer_of_5m_units", top_mlp(set_dims([16, 5000000])),
               ["weights.safetensors", "tensor '1/dense_1/kernel' [16, 5000000] is missing"]),
    model_case("model_bottom_mlp_mismatch", bottom_mlp(set_dims([12, 8])),
               ["weights.safetensors", "tensor '0/0/deep_continuous/1/dense_0/kernel' is float32 "
                "[13, 16]", "expected float32 [13, 12]"]),
    model_case("model_interaction_widths_differ", bottom_mlp(set_dims([16, 12])),
               ["model.json", "DotProductInteractionBlock", "'deep_continuous' is [batch, 12]",
                "'C1' is [batch, 8]"]),
    model_case("model_extra_layer", top_mlp(set_dims([16, 16])),
               ["weights.safetensors", "tensor '1/dense_1/kernel' [16, 16] is missing"]),
    model_case("model_embedding_dim_1e9", model_json(lambda m: (
        set_dim(1000000000)(blocks_of(m["architecture"], "EmbeddingFeatures")[0]["config"]),
        set_dims([16, 1000000000])(blocks_of(m["architecture"], "MLPBlock")[0]["config"]))),
               ["weights.safetensors", "tensor '0/0/embeddings/C1' is float32 [503, 8]",
                "expected float32 [503, 1000000000]"]),
    model_case("model_embedding_dim_overflows", embeddings(set_dim(2 ** 62)),
               ["model.json", "column 'C1'", "[503, 4611686018427387904]", "too large"]),
    model_case("model_embedding_dim_zero", embeddings(set_dim(0)),
               ["model.json", "dim"]),
    model_case("model_embedded_domain_2_pow_58", embeddings(set_c1_domain_max(2 ** 58 - 1)),
               ["model.json", "column 'C1'", "domain max 288230376151711743 is too large"]),
    model_case("model_embedded_domain_int64_max", embeddings(set_c1_domain_max(2 ** 63 - 1)),
               ["model.json", "column 'C1'", "domain max 9223372036854775807 is too large"]),
    model_case("model_schema_json_domain_1e400",
               edit_text("schema.json", lambda s: s.replace('"max": 502', '"max": 1e400', 1)),
               ["schema.json: not valid JSON at line", "1e400"]),
    model_case("model_schema_json_missing", replace("schema.json", None),
               ["schema.json", "cannot open the schema file"]),
    model_case("model_weights_are_a_directory",
               replace("weights.safetensors", lambda p: p.mkdir()),
               ["weights.safetensors"]),
    model_case("model_task_unknown_kind",
               model_json(lambda m: m["tasks"][0].update(kind="telepathy_task")),
               ["model.json", "telepathy_task"]),
    model_case("model_optimizer_unknown",
               model_json(lambda m: m["compile"]["optimizer"].update(type="telepathy")),
               ["telepathy"]),
    # The memory limit: a model built from flags whose parameters (26
    # tables of up to [503, 65536], about 3 GiB) do not fit in a limit of
    # 256 MiB is refused before allocating.
    Case("train_model_beyond_the_memory_limit",
         ["train", "--data", "{good}", "--model", "dlrm", "--embedding-dim", "65536",
          "--epochs", "1", "--out", "{dir}/m", "--no-progress"],
         words=["parameter tensors", "memory limit", "RECBLOCKS_MAX_MEMORY"],
         env={"RECBLOCKS_MAX_MEMORY": "256M"}),
]
