// bench_stream: the streaming loader over a Criteo-shaped dataset (13
// float32 continuous, 26 int32 categorical columns and an int32 label), as
// Parquet row groups or a .npy dataset directory; one measurement per
// process, so that each one's peak RSS is its own. run.sh writes the data
// and runs every measurement with the peers (peer_pyarrow.py).
//
//   bench_stream loader --data PATH [--memory] [--no-shuffle] [--window W] [--batch B]
//                       [--chunk-rows N]
//   bench_stream train  --data PATH [--window W] [--batch B] [--chunk-rows N]
//
// --chunk-rows: rows per chunk of a .npy directory (Parquet's are its row
// groups), default 262144.
//
// loader: one epoch of batches (the caller only takes them), streamed
//   (Loader(source), a background reader, shuffled within windows of W
//   chunks) or, with --memory, from the dataset read whole (Parquet) or
//   memory-mapped (.npy) first, the reading timed apart.
// train: one epoch of DLRM (embedding dim 16, bottom MLP 64-16, top MLP 64,
//   LazyAdam) fed by the streaming loader; progress lines on stderr.
// Prints one JSON line: rows/s by the wall clock, CPU seconds, the peak RSS
// (getrusage) and, for train, the model's bytes (weights and the two
// moments of LazyAdam), which the RSS target leaves out.
#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "recblocks/data/dataset.h"
#include "recblocks/data/loader.h"
#include "recblocks/data/source.h"
#include "recblocks/recblocks.h"
#ifdef RECBLOCKS_HAVE_PARQUET
#include "recblocks/data/parquet.h"
#endif

namespace rb = recblocks;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string mode, data;
  bool memory = false;
  bool shuffle = true;
  std::int64_t window = 4;
  std::int64_t batch = 1024;
  std::int64_t chunk_rows = std::int64_t{1} << 18;  // .npy chunks
};

[[noreturn]] void usage(const std::string& why) {
  fmt::print(stderr,
             "bench_stream: {}\nusage: bench_stream loader|train --data PATH [--memory] "
             "[--no-shuffle] [--window W] [--batch B] [--chunk-rows N]\n",
             why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("no mode");
  Args a;
  a.mode = argv[1];
  if (a.mode != "loader" && a.mode != "train") usage("unknown mode " + a.mode);
  for (int i = 2; i < argc; ++i) {
    const std::string key = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(key + " needs a value");
      return argv[++i];
    };
    if (key == "--data") {
      a.data = value();
    } else if (key == "--memory") {
      a.memory = true;
    } else if (key == "--no-shuffle") {
      a.shuffle = false;
    } else if (key == "--window") {
      a.window = std::stoll(value());
    } else if (key == "--batch") {
      a.batch = std::stoll(value());
    } else if (key == "--chunk-rows") {
      a.chunk_rows = std::stoll(value());
    } else {
      usage("unknown argument " + key);
    }
  }
  if (a.data.empty()) usage("--data is required");
  return a;
}

// A .parquet file or a directory holding one; else a dataset directory.
bool is_parquet(const std::string& path) {
  if (fs::path(path).extension() == ".parquet") return true;
  for (const auto& entry : fs::directory_iterator(path)) {
    if (entry.path().extension() == ".parquet") return true;
  }
  return false;
}

rb::DataSourcePtr open_source(const std::string& path, std::int64_t chunk_rows) {
  if (!is_parquet(path)) return rb::npy_source(path, chunk_rows);
#ifdef RECBLOCKS_HAVE_PARQUET
  return rb::datasets::parquet_source(path);
#else
  usage("built without Parquet support");
#endif
}

rb::Dataset open_whole(const std::string& path) {
  if (!is_parquet(path)) return rb::Dataset::load(path);
#ifdef RECBLOCKS_HAVE_PARQUET
  return rb::datasets::read_parquet(path);
#else
  usage("built without Parquet support");
#endif
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run_loader(const Args& a) {
  const auto start = std::chrono::steady_clock::now();
  double open_s = 0;
  std::int64_t rows = 0, checksum = 0, chunks = 0;
  const auto consume = [&](rb::Loader& loader) {
    for (const rb::Batch& b : loader) {
      rows += b.rows();
      checksum += b.tensor("C1").data<std::int32_t>()[0];  // touch the batch
    }
  };
  rb::LoaderOptions options{
      .batch_size = a.batch, .shuffle = a.shuffle, .shuffle_window = a.window};
  if (a.memory) {
    rb::Dataset data = open_whole(a.data);
    open_s = seconds_since(start);
    rb::Loader loader(std::move(data), options);
    consume(loader);
  } else {
    rb::DataSourcePtr source = open_source(a.data, a.chunk_rows);
    chunks = source->num_chunks();
    rb::Loader loader(source, options);
    consume(loader);
  }
  const double seconds = seconds_since(start);
  fmt::print(
      "{{\"bench\":\"stream\",\"mode\":\"loader\",\"format\":\"{}\",\"storage\":\"{}\","
      "\"shuffle\":{},\"window\":{},\"chunks\":{},\"batch\":{},\"rows\":{},\"seconds\":{:.3f},"
      "\"open_seconds\":{:.3f},\"rows_per_s\":{:.0f},\"cpu_s\":{:.2f},\"peak_rss_mib\":{:.0f},"
      "\"checksum\":{}}}\n",
      is_parquet(a.data) ? "parquet" : "npy", a.memory ? "memory" : "stream", a.shuffle, a.window,
      chunks, a.batch, rows, seconds, open_s, static_cast<double>(rows) / seconds, cpu_seconds(),
      peak_rss_mib(), checksum);
  return 0;
}

int run_train(const Args& a) {
  rb::DataSourcePtr source = open_source(a.data, a.chunk_rows);
  rb::Model model = rb::DLRMModel(source->schema(), {.embedding_dim = 16,
                                                     .bottom_block = rb::MLPBlock({64, 16}),
                                                     .top_block = rb::MLPBlock({64})});
  model.build(source->schema(), 0);
  // LazyAdam: the embedding rows a batch uses are updated, not the whole
  // tables (dense Adam over Criteo's 0.94 M rows of 16 costs more than
  // the rest of the step); the moments still cover every row.
  model.compile("lazy_adam");
  std::int64_t weight_bytes = 0;
  for (const auto& [name, p] : model.parameters()) {
    weight_bytes += static_cast<std::int64_t>(p->value().nbytes());
  }
  const auto start = std::chrono::steady_clock::now();
  const double cpu_before = cpu_seconds();
  const rb::History history = model.fit(
      source, {.batch_size = a.batch, .epochs = 1, .progress = true, .shuffle_window = a.window});
  const double seconds = seconds_since(start);
  const double model_mib = 3.0 * static_cast<double>(weight_bytes) / (1 << 20);
  const double rss = peak_rss_mib();
  fmt::print(
      "{{\"bench\":\"stream\",\"mode\":\"train\",\"format\":\"{}\",\"window\":{},\"chunks\":{},"
      "\"batch\":{},\"rows\":{},\"seconds\":{:.1f},\"rows_per_s\":{:.0f},\"cpu_s\":{:.1f},"
      "\"loss\":{:.4f},\"peak_rss_mib\":{:.0f},\"model_mib\":{:.0f},\"rss_less_model_mib\":{:.0f}}}"
      "\n",
      is_parquet(a.data) ? "parquet" : "npy", a.window, source->num_chunks(), a.batch,
      source->num_rows(), seconds, static_cast<double>(source->num_rows()) / seconds,
      cpu_seconds() - cpu_before, history.epochs.back().at("loss"), rss, model_mib,
      rss - model_mib);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    return a.mode == "loader" ? run_loader(a) : run_train(a);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_stream: {}\n", e.what());
    return 1;
  }
}
