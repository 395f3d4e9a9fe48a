// Import benchmark: 1,000,000 ratings in the ml-1m format, from raw files
// to written train/valid/etl directories, with the real users.dat and
// movies.dat of ../shared/data/ml-1m-partial and a ratings.dat generated
// here with a fixed seed (movie popularity ~ Zipf, user activity ~ Zipf, as
// in the real ml-1m). Prints one JSON line.
//
//   import_bench [--rows N] [--runs R] [--shared DIR] [--work DIR]
//
// The time is the median over R runs of datasets::movielens(..., overwrite),
// the whole path a user's call takes (read, join, split, ETL, write), as
// wall time and as the process's CPU time (user + system, all threads; on a
// shared machine the wall time also counts waiting for a core). One more
// run times the phases separately (wall).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "recblocks/core/rng.h"
#include "recblocks/core/threads.h"
#include "recblocks/data/movielens.h"

namespace fs = std::filesystem;
namespace rb = recblocks;

namespace {

// CPU time of the whole process (all threads), user + system.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::int64_t> first_field_ids(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::int64_t> ids;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) ids.push_back(std::stoll(line.substr(0, line.find("::"))));
  }
  return ids;
}

// Cumulative Zipf(s) weights over n ranks, for inverse-CDF draws.
std::vector<double> zipf_cdf(std::size_t n, double s) {
  std::vector<double> cdf(n);
  double total = 0;
  for (std::size_t i = 0; i < n; ++i)
    cdf[i] = total += 1.0 / std::pow(static_cast<double>(i + 1), s);
  for (double& c : cdf) c /= total;
  return cdf;
}

std::size_t draw(const std::vector<double>& cdf, rb::Rng& rng) {
  const double u = static_cast<double>(rng.next_u64() >> 11) * 0x1.0p-53;
  return std::min<std::size_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin(),
                               cdf.size() - 1);
}

void write_ratings(const fs::path& path, std::int64_t rows, const std::vector<std::int64_t>& users,
                   const std::vector<std::int64_t>& movies) {
  rb::Rng rng(2024);
  const auto user_cdf = zipf_cdf(users.size(), 0.6);
  const auto movie_cdf = zipf_cdf(movies.size(), 0.9);
  // ml-1m's rating histogram: 1: 5.6%, 2: 10.8%, 3: 26.1%, 4: 34.9%, 5: 22.6%
  const double rating_cdf[5] = {0.056, 0.164, 0.425, 0.774, 1.0};
  std::string text;
  text.reserve(static_cast<std::size_t>(rows) * 24);
  for (std::int64_t i = 0; i < rows; ++i) {
    const double u = rng.uniform();
    int rating = 1;
    while (rating < 5 && u > rating_cdf[rating - 1]) ++rating;
    text += fmt::format("{}::{}::{}::{}\n", users[draw(user_cdf, rng)],
                        movies[draw(movie_cdf, rng)], rating, 956703932 + i);
  }
  std::ofstream(path, std::ios::binary) << text;
}

// The 1-minute load average: the machine may be shared, and the wall time
// means little when it is above the number of cores.
double load_average() {
  double load = -1;
  std::ifstream("/proc/loadavg") >> load;
  return load;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t rows = 1000000;
  int runs = 5;
  fs::path shared = fs::path(RECBLOCKS_SOURCE_DIR) / ".." / "shared" / "data";
  if (const char* env = std::getenv("RECBLOCKS_SHARED_DATA")) shared = env;
  fs::path work = fs::temp_directory_path() / fmt::format("rb_import_bench_{}", ::getpid());
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--rows")
      rows = std::stoll(argv[i + 1]);
    else if (arg == "--runs")
      runs = std::stoi(argv[i + 1]);
    else if (arg == "--shared")
      shared = argv[i + 1];
    else if (arg == "--work")
      work = argv[i + 1];
    else {
      fmt::print(stderr, "import_bench: unknown argument {}\n", arg);
      return 2;
    }
  }
  const fs::path partial = shared / "ml-1m-partial";
  const fs::path raw = work / "ml-1m";
  fs::create_directories(raw);
  fs::copy_file(partial / "users.dat", raw / "users.dat", fs::copy_options::overwrite_existing);
  fs::copy_file(partial / "movies.dat", raw / "movies.dat", fs::copy_options::overwrite_existing);
  write_ratings(raw / "ratings.dat", rows, first_field_ids(raw / "users.dat"),
                first_field_ids(raw / "movies.dat"));

  std::vector<double> times;
  std::vector<double> cpu_times;
  std::int64_t train_rows = 0, valid_rows = 0;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    auto [train, valid] =
        rb::datasets::movielens("ml-1m", work, {.overwrite = true, .download = false});
    times.push_back(seconds_since(t0));
    cpu_times.push_back(cpu_seconds() - c0);
    train_rows = train.num_rows();
    valid_rows = valid.num_rows();
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  const double median = times[times.size() / 2];
  const double cpu_median = cpu_times[cpu_times.size() / 2];

  // Phases, once.
  auto t = std::chrono::steady_clock::now();
  const rb::etl::RawTable table = rb::datasets::read_movielens("ml-1m", raw);
  const double read_s = seconds_since(t);
  t = std::chrono::steady_clock::now();
  const auto [tr, va] = rb::datasets::split_rows(rb::etl::num_rows(table), 42, 0.2);
  auto wf = rb::datasets::movielens_workflow("ml-1m");
  const rb::Dataset train = wf.fit_transform(rb::etl::take(table, tr));
  const rb::Dataset valid = wf.transform(rb::etl::take(table, va));
  const double etl_s = seconds_since(t);
  t = std::chrono::steady_clock::now();
  wf.save(work / "phases" / "etl");
  valid.save(work / "phases" / "valid");
  train.save(work / "phases" / "train");
  const double write_s = seconds_since(t);

  fmt::print(
      "{{\"bench\": \"import\", \"variant\": \"ml-1m\", \"rows\": {}, \"train_rows\": {}, "
      "\"valid_rows\": {}, \"threads\": {}, \"runs\": {}, \"seconds_median\": {:.3f}, "
      "\"seconds_min\": {:.3f}, \"seconds_max\": {:.3f}, \"cpu_seconds_median\": {:.3f}, "
      "\"rows_per_s\": {:.0f}, \"load_avg_1m\": {:.2f}, "
      "\"phases_s\": {{\"read_join\": {:.3f}, \"split_etl\": {:.3f}, \"write\": {:.3f}}}, "
      "\"target_s\": 2.0}}\n",
      rows, train_rows, valid_rows, rb::num_threads(), runs, median, times.front(), times.back(),
      cpu_median, static_cast<double>(rows) / median, load_average(), read_s, etl_s, write_s);
  fs::remove_all(work);
  return 0;
}
