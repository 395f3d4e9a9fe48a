"""Command-line flags out of range: every subcommand's numbers are checked by
the parser (CLI11 validators, exit status 105) with one line naming the
flag, the value and the accepted range; none reaches the library as a
crash (the DLRM body's options with 0 units), an OpenMP failure
(--threads 5000), an allocation of 10^12 rows or a silently ignored value
(--early-stopping -5)."""
from corpus import Case

BAD = 105  # CLI11's exit status for a value its validator refuses

TRAIN = ["train", "--data", "{good}", "--out", "{dir}/m", "--epochs", "1", "--no-progress"]


def flag(name, argv, flag_name, value, expected, exit=BAD):
    """A case whose message names the flag, the quoted value and the range."""
    return Case(name, argv, exit=exit, words=[flag_name, f"'{value}'", expected])


def train(name, flag_name, value, expected, *extra):
    # "--flag=-1": a separate "-1" would read as an option.
    given = [f"{flag_name}={value}"] if value.startswith("-") else [flag_name, value]
    return flag(name, [*TRAIN, *extra, *given], flag_name, value, expected)


CASES = [
    # --threads: 1 to the machine's logical CPUs, before any subcommand runs.
    flag("threads_not_a_number", ["--threads", "abc", "info"], "--threads", "abc",
         "is not an integer"),
    flag("threads_5000", ["--threads", "5000", "info"], "--threads", "5000", "logical CPUs"),
    flag("threads_zero", ["--threads", "0", "info"], "--threads", "0", "out of range"),
    flag("threads_negative", ["--threads=-3", "info"], "--threads", "-3", "from 1 to"),
    flag("threads_after_subcommand", ["info", "--threads", "1e9"], "--threads", "1e9",
         "out of range"),
    flag("threads_beyond_int64", ["--threads", "99999999999999999999", "info"], "--threads",
         "99999999999999999999", "out of range"),
    flag("threads_fraction", ["--threads", "1.5", "info"], "--threads", "1.5",
         "is not an integer"),
    flag("threads_with_train", ["--threads", "100000", *TRAIN], "--threads", "100000",
         "out of range"),
    Case("threads_binary_value_escaped", ["--threads", "\x1b[31m4", "info"], exit=BAD,
         words=["--threads", "\\x1B[31m4", "is not an integer"]),
    Case("threads_long_value_cut", ["--threads", "9" * 5000, "info"], exit=BAD,
         words=["--threads", "... (5000 bytes)"]),
    # The crashes of issue 20: a layer of 0 units or a negative dimension.
    train("train_embedding_dim_zero", "--embedding-dim", "0", "from 1 to 65536"),
    train("train_top_with_zero_units", "--top", "0", "the units of a layer"),
    flag("train_top_list_with_zero", [*TRAIN, "--top", "64,0"], "--top", "0", "from 1 to 65536"),
    flag("train_dlrm_bottom_with_zero", [*TRAIN, "--model", "dlrm", "--bottom", "128,0,64"],
         "--bottom", "0", "the units of a layer"),
    flag("train_dlrm_embedding_dim_negative", [*TRAIN, "--model", "dlrm", "--embedding-dim=-1"],
         "--embedding-dim", "-1", "from 1 to"),
    train("train_embedding_dim_1e9", "--embedding-dim", "1e9", "out of range"),
    train("train_embedding_dim_text", "--embedding-dim", "wide", "is not an integer"),
    train("train_top_1e9", "--top", "1000000000", "out of range"),
    flag("train_top_list_with_text", [*TRAIN, "--top", "64,x"], "--top", "x",
         "is not an integer"),
    flag("train_bottom_negative", [*TRAIN, "--model", "dlrm", "--bottom=128,-8"], "--bottom",
         "-8", "out of range"),
    train("train_cross_depth_zero", "--cross-depth", "0", "from 1 to 100", "--model", "dcn"),
    train("train_cross_depth_huge", "--cross-depth", "5000", "out of range", "--model", "dcn"),
    train("train_low_rank_dim_negative", "--low-rank-dim", "-1", "from 0 to"),
    train("train_num_experts_zero", "--num-experts", "0", "from 1 to 1024", "--model", "mmoe"),
    train("train_num_bins_zero", "--num-bins", "0", "from 1 to", "--model", "wide_deep"),
    train("train_num_bins_1e12", "--num-bins", "1e12", "out of range", "--model", "wide_deep"),
    train("train_learning_rate_zero", "--learning-rate", "0", "a number in (0"),
    train("train_learning_rate_nan", "--learning-rate", "nan", "is not a finite number"),
    train("train_learning_rate_inf", "--learning-rate", "inf", "is not a finite number"),
    train("train_learning_rate_overflow", "--learning-rate", "1e400", "is not a finite number"),
    train("train_learning_rate_negative", "--learning-rate", "-0.1", "out of range"),
    train("train_learning_rate_text", "--learning-rate", "fast", "is not a number"),
    train("train_wide_learning_rate_nan", "--wide-learning-rate", "nan", "finite",
          "--model", "wide_deep"),
    train("train_loss_weights_negative", "--loss-weights", "-1", "a number in [0"),
    train("train_loss_weights_nan", "--loss-weights", "nan", "is not a finite number"),
    train("train_epochs_negative", "--epochs", "-1", "from 0 to 1000000"),
    train("train_epochs_fraction", "--epochs", "2.5", "is not an integer"),
    train("train_epochs_huge", "--epochs", "1e7", "out of range"),
    train("train_batch_size_zero", "--batch-size", "0", "from 1 to 16777216"),
    train("train_batch_size_1e9", "--batch-size", "1e9", "out of range"),
    train("train_batch_size_text", "--batch-size", "big", "is not an integer"),
    train("train_seed_negative", "--seed", "-1", "is not a seed"),
    train("train_seed_text", "--seed", "abc", "from 0 to 2^64 - 1"),
    train("train_checkpoint_every_negative", "--checkpoint-every", "-5", "from 0 to"),
    # Ignored without a word before: a negative patience.
    train("train_early_stopping_negative", "--early-stopping", "-5",
          "epochs without improvement"),
    train("train_early_stopping_text", "--early-stopping", "soon", "is not an integer"),
    train("train_sampled_negatives_negative", "--sampled-negatives", "-1", "from 0 to"),
    train("train_temperature_zero", "--temperature", "0", "a number in (0"),
    train("train_temperature_nan", "--temperature", "nan", "finite"),
    train("train_num_sampled_zero", "--num-sampled", "0", "from 1 to"),
    train("train_eval_k_zero", "--eval-k", "0", "from 1 to"),
    flag("train_eval_k_list_negative", [*TRAIN, "--eval-k=10,-1"], "--eval-k", "-1",
         "out of range"),
    # evaluate, predict, recommend
    flag("evaluate_batch_size_zero",
         ["evaluate", "--model", "{model}", "--data", "{good}/valid", "--batch-size", "0"],
         "--batch-size", "0", "from 1 to"),
    flag("evaluate_batch_size_text",
         ["evaluate", "--model", "{model}", "--data", "{good}/valid", "--batch-size", "1k"],
         "--batch-size", "1k", "is not an integer"),
    flag("evaluate_eval_k_zero",
         ["evaluate", "--model", "{model}", "--data", "{good}/valid", "--eval-k", "0"],
         "--eval-k", "0", "from 1 to"),
    flag("predict_batch_size_negative",
         ["predict", "--model", "{model}", "--data", "{good}/valid", "--out", "{dir}/p",
          "--batch-size=-1"], "--batch-size", "-1", "from 1 to"),
    flag("predict_batch_size_huge",
         ["predict", "--model", "{model}", "--data", "{good}/valid", "--out", "{dir}/p",
          "--batch-size", "99999999999"], "--batch-size", "99999999999", "out of range"),
    flag("recommend_k_zero",
         ["recommend", "--model", "{model}", "--data", "{good}/train", "--user", "1", "--k", "0"],
         "--k", "0", "from 1 to 1000000"),
    flag("recommend_k_huge",
         ["recommend", "--model", "{model}", "--data", "{good}/train", "--user", "1", "--k",
          "1e12"], "--k", "1e12", "out of range"),
    Case("recommend_unknown_user_policy",
         ["recommend", "--model", "{model}", "--data", "{good}/train", "--user", "1",
          "--unknown-user", "guess"], exit=BAD, words=["--unknown-user", "guess"]),
    # demo
    flag("demo_epochs_negative", ["demo", "--synthetic", "--epochs=-2", "--data", "{dir}/d",
                                  "--out", "{dir}/m"], "--epochs", "-2", "from 0 to"),
    flag("demo_batch_size_zero", ["demo", "--synthetic", "--batch-size", "0", "--data", "{dir}/d",
                                  "--out", "{dir}/m"], "--batch-size", "0", "from 1 to"),
    flag("demo_ratings_1e12", ["demo", "--synthetic", "--ratings", "1e12", "--data", "{dir}/d",
                               "--out", "{dir}/m"], "--ratings", "1e12", "out of range"),
    flag("demo_ratings_zero", ["demo", "--synthetic", "--ratings", "0", "--data", "{dir}/d",
                               "--out", "{dir}/m"], "--ratings", "0", "from 1 to"),
    # data movielens
    flag("movielens_valid_fraction_above_one",
         ["data", "movielens", "--variant", "ml-100k", "--out", "{dir}/o", "--no-download",
          "--valid-fraction", "1.5"], "--valid-fraction", "1.5", "a number in [0, 1]"),
    flag("movielens_valid_fraction_nan",
         ["data", "movielens", "--variant", "ml-100k", "--out", "{dir}/o", "--no-download",
          "--valid-fraction", "nan"], "--valid-fraction", "nan", "finite"),
    flag("movielens_history_negative",
         ["data", "movielens", "--variant", "ml-100k", "--out", "{dir}/o", "--no-download",
          "--history=-1"], "--history", "-1", "from 0 to 10000"),
    flag("movielens_history_huge",
         ["data", "movielens", "--variant", "ml-100k", "--out", "{dir}/o", "--no-download",
          "--history", "1e9"], "--history", "1e9", "out of range"),
    flag("movielens_seed_negative",
         ["data", "movielens", "--variant", "ml-100k", "--out", "{dir}/o", "--no-download",
          "--seed=-42"], "--seed", "-42", "is not a seed"),
    # data criteo
    flag("criteo_min_frequency_zero",
         ["data", "criteo", "--input", "{dir}/day_0", "--out", "{dir}/o", "--min-frequency", "0"],
         "--min-frequency", "0", "from 1 to"),
    flag("criteo_buckets_negative",
         ["data", "criteo", "--input", "{dir}/day_0", "--out", "{dir}/o", "--buckets=-1"],
         "--buckets", "-1", "from 0 to"),
    flag("criteo_buckets_1e12",
         ["data", "criteo", "--input", "{dir}/day_0", "--out", "{dir}/o", "--buckets", "1e12"],
         "--buckets", "1e12", "out of range"),
    flag("criteo_valid_fraction_one",
         ["data", "criteo", "--input", "{dir}/day_0", "--out", "{dir}/o", "--valid-fraction", "1"],
         "--valid-fraction", "1", "a number in [0, 0.99]"),
    flag("criteo_max_rows_negative",
         ["data", "criteo", "--input", "{dir}/day_0", "--out", "{dir}/o", "--max-rows=-10"],
         "--max-rows", "-10", "from 0 to"),
    # data csv
    flag("csv_valid_fraction_negative",
         ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/in.json", "--out",
          "{dir}/o", "--valid-fraction=-0.1"], "--valid-fraction", "-0.1", "out of range"),
    flag("csv_valid_fraction_text",
         ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/in.json", "--out",
          "{dir}/o", "--valid-fraction", "half"], "--valid-fraction", "half", "is not a number"),
    # data synthetic: 10^12 rows was a bad_alloc
    flag("synthetic_rows_1e12", ["data", "synthetic", "--shape", "criteo", "--rows", "1e12",
                                 "--out", "{dir}/o"], "--rows", "1e12", "from 1 to 1000000000"),
    flag("synthetic_rows_zero", ["data", "synthetic", "--shape", "criteo", "--rows", "0",
                                 "--out", "{dir}/o"], "--rows", "0", "out of range"),
    flag("synthetic_rows_negative", ["data", "synthetic", "--shape", "criteo", "--rows=-5",
                                     "--out", "{dir}/o"], "--rows", "-5", "out of range"),
    flag("synthetic_max_table_size_negative",
         ["data", "synthetic", "--shape", "criteo", "--max-table-size=-1", "--out", "{dir}/o"],
         "--max-table-size", "-1", "from 0 to"),
    flag("synthetic_max_table_size_huge",
         ["data", "synthetic", "--shape", "criteo", "--max-table-size", "1e15", "--out",
          "{dir}/o"], "--max-table-size", "1e15", "out of range"),
    flag("synthetic_users_zero", ["data", "synthetic", "--shape", "movielens-1m", "--users", "0",
                                  "--out", "{dir}/o"], "--users", "0", "from 1 to"),
    flag("synthetic_movies_huge", ["data", "synthetic", "--shape", "movielens-1m", "--movies",
                                   "1e12", "--out", "{dir}/o"], "--movies", "1e12",
         "out of range"),
    flag("synthetic_valid_fraction_one", ["data", "synthetic", "--shape", "criteo",
                                          "--valid-fraction", "1", "--out", "{dir}/o"],
         "--valid-fraction", "1", "out of range"),
    flag("synthetic_seed_text", ["data", "synthetic", "--shape", "criteo", "--seed", "lucky",
                                 "--out", "{dir}/o"], "--seed", "lucky", "is not a seed"),
    # Good values still pass: the bounds are not in the way.
    Case("threads_one_ok", ["--threads", "1", "info"], exit=0, words=["threads:  1"]),
    Case("synthetic_small_ok", ["--threads", "1", "data", "synthetic", "--shape", "criteo",
                                "--rows", "200", "--max-table-size", "50", "--valid-fraction",
                                "0.5", "--out", "{dir}/o"], exit=0, words=["bayes_auc"]),
]

# The files the data cases read (the flag check comes first, but the files
# must not be what fails).
_CRITEO = "0\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13" + "\t68fd1e64" * 26 + "\n"
_CSV_SCHEMA = ('{"delimiter": ",", "header": true, "columns": ['
               '{"name": "userId", "tags": ["categorical", "user_id"]},'
               '{"name": "clicked", "tags": ["target", "binary_classification"]}]}')
for _case in CASES:
    if _case.argv[:2] == ["data", "criteo"]:
        _case.files["day_0"] = _CRITEO
    if _case.argv[:2] == ["data", "csv"]:
        _case.files["in.csv"] = "userId,clicked\nu1,1\nu2,0\n"
        _case.files["in.json"] = _CSV_SCHEMA

CASES.append(Case("csv_quote_two_characters",
                  ["data", "csv", "--input", "{dir}/in.csv", "--schema", "{dir}/in.json", "--out",
                   "{dir}/o", "--quote", "''"], exit=BAD,
                  words=["--quote", "is not one character", "'none'"],
                  files={"in.csv": "userId,clicked\nu1,1\n", "in.json": _CSV_SCHEMA}))
