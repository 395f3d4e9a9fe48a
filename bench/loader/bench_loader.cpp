// bench_loader: rows per second that rb::Loader delivers for the seed's
// columns (userId, movieId, title, gender: int32 categorical;
// TE_zipcode_rating, TE_movieId_rating: float32; rating_binary: int32
// target), 1,000,000 rows, shuffled, batch 1024, on one core.
//
//   bench_loader [--rows N] [--epochs E] [--batch B] [--dir DIR] [--only TEXT]
//
// --only runs the measurements whose label contains TEXT; labels are
// storage/columns/order/prefetchN/rowcache-or-bycolumn, e.g.
// memory/seed/shuffle/prefetch0/rowcache.
//
// Measures full epochs (the permutation included) of:
//   memory  the dataset in memory
//   mmap    the same dataset saved to DIR (default a temporary directory)
//           and memory-mapped back (its first epoch, faulting the pages
//           in, is reported apart as "cold")
// each with prefetch 0 (the gather on the calling thread: one thread) and
// prefetch 2 (one producer thread, the caller only takes batches), then
// the seed's columns plus genres (a list column, 1 to 6 ids per row), the
// loader without its row cache (one gather per column), and dataset order
// (shuffle off, as evaluation reads). One JSON line per measurement:
// rows_per_s is the median epoch by the wall clock, best_rows_per_s the
// fastest; rows_per_cpu_s divides by the process's CPU time instead, which
// other processes on a busy machine do not inflate. The "cold" mmap epoch
// maps pages that are in the page cache (just written), not read from disk.
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "recblocks/data/dataset.h"
#include "recblocks/data/loader.h"

namespace rb = recblocks;

namespace {

struct Args {
  std::int64_t rows = 1'000'000;
  int epochs = 7;
  std::int64_t batch = 1024;
  std::string dir;
  std::string only;  // run only measurements whose label contains this
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--rows")
      a.rows = std::atoll(argv[i + 1]);
    else if (key == "--epochs")
      a.epochs = std::atoi(argv[i + 1]);
    else if (key == "--batch")
      a.batch = std::atoll(argv[i + 1]);
    else if (key == "--dir")
      a.dir = argv[i + 1];
    else if (key == "--only")
      a.only = argv[i + 1];
    else {
      fmt::print(stderr, "unknown argument {}\n", key);
      std::exit(2);
    }
  }
  return a;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

rb::Tensor categorical(std::int64_t rows, std::int32_t cardinality, std::mt19937_64& rng) {
  // Zipf-like popularity, as ratings have: id = floor(card * u^3).
  rb::Tensor t = rb::Tensor::empty({rows}, rb::DType::kInt32);
  std::uniform_real_distribution<double> u(0, 1);
  for (std::int64_t r = 0; r < rows; ++r) {
    const double x = u(rng);
    t.data<std::int32_t>()[r] = static_cast<std::int32_t>(cardinality * x * x * x);
  }
  return t;
}

rb::Tensor continuous(std::int64_t rows, std::mt19937_64& rng) {
  rb::Tensor t = rb::Tensor::empty({rows});
  std::normal_distribution<float> n(0, 1);
  for (std::int64_t r = 0; r < rows; ++r) t.data<float>()[r] = n(rng);
  return t;
}

rb::Dataset seed_dataset(std::int64_t rows, bool with_genres) {
  std::mt19937_64 rng(42);
  using rb::Tags;
  std::vector<rb::ColumnSchema> schema = {
      rb::ColumnSchema("userId", rb::DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID})
          .with_domain({0, 6040, "userId"}),
      rb::ColumnSchema("movieId", rb::DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID})
          .with_domain({0, 3706, "movieId"}),
      rb::ColumnSchema("title", rb::DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM})
          .with_domain({0, 3706, "title"}),
      rb::ColumnSchema("gender", rb::DType::kInt32, {Tags::CATEGORICAL, Tags::USER})
          .with_domain({0, 2, "gender"}),
      rb::ColumnSchema("TE_zipcode_rating", rb::DType::kFloat32, {Tags::CONTINUOUS, Tags::USER}),
      rb::ColumnSchema("TE_movieId_rating", rb::DType::kFloat32, {Tags::CONTINUOUS, Tags::ITEM}),
      rb::ColumnSchema("rating_binary", rb::DType::kInt32,
                       {Tags::TARGET, Tags::BINARY_CLASSIFICATION}),
  };
  std::map<std::string, rb::Column> columns;
  columns["userId"] = {categorical(rows, 6040, rng), {}};
  columns["movieId"] = {categorical(rows, 3706, rng), {}};
  columns["title"] = {columns["movieId"].values.clone(), {}};
  columns["gender"] = {categorical(rows, 2, rng), {}};
  columns["TE_zipcode_rating"] = {continuous(rows, rng), {}};
  columns["TE_movieId_rating"] = {continuous(rows, rng), {}};
  columns["rating_binary"] = {categorical(rows, 2, rng), {}};
  if (with_genres) {
    schema.push_back(rb::ColumnSchema("genres", rb::DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM})
                         .with_domain({0, 18, "genres"})
                         .with_list(true, true, rb::ValueCount{1, 6}));
    rb::Tensor offsets = rb::Tensor::empty({rows + 1}, rb::DType::kInt64);
    std::vector<std::int32_t> values;
    values.reserve(static_cast<std::size_t>(rows) * 3);
    std::uniform_int_distribution<int> length(1, 6), genre(0, 18);
    offsets.data<std::int64_t>()[0] = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (int k = length(rng); k > 0; --k) values.push_back(genre(rng));
      offsets.data<std::int64_t>()[r + 1] = static_cast<std::int64_t>(values.size());
    }
    columns["genres"] = {
        rb::Tensor::from<std::int32_t>({static_cast<std::int64_t>(values.size())}, values),
        offsets};
  }
  return rb::Dataset(rb::Schema(std::move(schema)), std::move(columns));
}

double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct EpochTime {
  double wall = 0;  // seconds
  double cpu = 0;   // CPU seconds of the whole process (every thread)
};

// One full epoch; `sink` keeps the batches from being unused.
EpochTime time_epoch(rb::Loader& loader, std::int64_t& rows_seen, std::int64_t& sink) {
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  for (const rb::Batch& b : loader) {
    rows_seen += b.rows();
    sink += b.tensor("userId").data<std::int32_t>()[b.rows() - 1];
  }
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
          cpu_seconds() - cpu_start};
}

std::string json_list(const std::vector<double>& values) {
  std::string out;
  for (double v : values) out += fmt::format("{}{:.0f}", out.empty() ? "" : ",", v);
  return "[" + out + "]";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void measure(const std::string& storage, const std::string& columns, const rb::Dataset& data,
             const rb::LoaderOptions& options, const Args& args, bool report_cold) {
  const std::string label =
      fmt::format("{}/{}/{}/prefetch{}/{}", storage, columns, options.shuffle ? "shuffle" : "order",
                  options.prefetch, options.row_cache_bytes > 0 ? "rowcache" : "bycolumn");
  if (label.find(args.only) == std::string::npos) return;
  const auto build_start = std::chrono::steady_clock::now();
  rb::Loader loader(data, options);
  const double build_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count();
  std::vector<double> wall, cpu;
  std::int64_t sink = 0;
  double cold = 0;
  for (int e = 0; e < args.epochs + (report_cold ? 1 : 0); ++e) {
    std::int64_t rows = 0;
    const EpochTime t = time_epoch(loader, rows, sink);
    if (rows != data.num_rows()) {
      fmt::print(stderr, "epoch delivered {} rows of {}\n", rows, data.num_rows());
      std::exit(1);
    }
    const auto r = static_cast<double>(rows);
    if (report_cold && e == 0) {
      cold = r / t.wall;
      continue;
    }
    wall.push_back(r / t.wall);
    cpu.push_back(r / t.cpu);
  }
  fmt::print(
      "{{\"bench\":\"loader\",\"label\":\"{}\",\"storage\":\"{}\",\"columns\":\"{}\",\"rows\":{},"
      "\"batch_size\":{},\"shuffle\":{},\"prefetch\":{},\"threads\":{},\"row_cache\":{},"
      "\"epochs\":{},\"rows_per_s\":{:.0f},\"best_rows_per_s\":{:.0f},"
      "\"rows_per_cpu_s\":{:.0f},\"best_rows_per_cpu_s\":{:.0f},\"loader_build_s\":{:.4f},"
      "\"epoch_rows_per_s\":{}{},\"loadavg\":\"{}\",\"check\":{}}}\n",
      label, storage, columns, data.num_rows(), options.batch_size, options.shuffle,
      options.prefetch, options.prefetch == 0 ? 1 : 2, options.row_cache_bytes > 0, wall.size(),
      median(wall), *std::max_element(wall.begin(), wall.end()), median(cpu),
      *std::max_element(cpu.begin(), cpu.end()), build_s, json_list(wall),
      report_cold ? fmt::format(",\"cold_rows_per_s\":{:.0f}", cold) : std::string(), loadavg(),
      sink % 7);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const rb::Dataset seed = seed_dataset(args.rows, /*with_genres=*/false);
  const rb::Dataset with_genres = seed_dataset(args.rows, /*with_genres=*/true);

  namespace fs = std::filesystem;
  const fs::path dir = args.dir.empty()
                           ? fs::temp_directory_path() / fmt::format("bench_loader_{}", ::getpid())
                           : fs::path(args.dir);
  seed.save(dir / "seed");
  const rb::Dataset mapped = rb::Dataset::load(dir / "seed");

  const auto options = [&](bool shuffle, int prefetch, bool row_cache = true) {
    return rb::LoaderOptions{.batch_size = args.batch,
                             .shuffle = shuffle,
                             .seed = 7,
                             .prefetch = prefetch,
                             .row_cache_bytes = row_cache ? std::int64_t{1} << 30 : 0};
  };
  for (int prefetch : {0, 2}) measure("memory", "seed", seed, options(true, prefetch), args, false);
  for (int prefetch : {0, 2}) {
    measure("mmap", "seed", mapped, options(true, prefetch), args, prefetch == 0);
  }
  for (int prefetch : {0, 2}) {
    measure("memory", "seed+genres", with_genres, options(true, prefetch), args, false);
  }
  // Without the row cache: one gather per column, straight from the dataset.
  measure("memory", "seed", seed, options(true, 0, false), args, false);
  measure("mmap", "seed", mapped, options(true, 0, false), args, false);
  // Dataset order, as evaluation reads.
  for (int prefetch : {0, 2})
    measure("memory", "seed", seed, options(false, prefetch), args, false);

  if (args.dir.empty()) fs::remove_all(dir);
  return 0;
}
