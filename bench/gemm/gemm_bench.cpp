// GEMM benchmark on recblocks' own shapes (driver, shared by every library).
//
// For each shape: the forward GEMM Y[M,N] = X[M,K] W[K,N] and its two
// gradient GEMMs, dX[M,K] = dY[M,N] W^T and dW[K,N] = X^T dY, with the real
// transpose flags. One process measures one library in one threading mode:
//   1t     library set to 1 thread
//   2t     library set to 2 threads (its own threading)
//   split  library set to 1 thread, 2 OpenMP threads each run half of the
//          output (rows of C = batch rows; for dW, where the batch is the
//          reduction dimension, columns of C instead, or rows when N' == 1)
//   2t_epi as 2t, forward GEMMs only, each followed by a bias+ReLU epilogue
//          in an OpenMP parallel-for (time of GEMM + epilogue)
// Each measurement is checked once against a naive double-precision loop,
// then timed: warm-up, then `samples` samples of `reps` calls, median.
// --checks-only N skips timing and checks every GEMM N times (thread-safety test).
// Output: one JSON object per line on stdout (see bench/gemm/run.sh).
#include <dlfcn.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backend.hpp"

namespace gemmbench {
namespace {

struct Options {
  std::string mode;
  int run = 1;
  std::string tag = "default";
  std::vector<std::string> groups = {"seed", "criteo-b128", "criteo-b256", "roofline"};
  int samples = 21;
  double min_sample_s = 1e-3;
  double warmup_s = 0.02;
  int checks = 1;  // correctness checks per measurement
  // Contention control (the machine has 2 CPUs, so any other busy process
  // distorts 2-thread numbers): a measurement during which other processes
  // used more than quiet_ms of CPU is repeated, after waiting for quiet,
  // up to `attempts` times, within a per-process budget of waiting.
  double quiet_ms = 20;
  int attempts = 4;
  double wait_budget_s = 20;
};

struct Shape {
  std::string group;
  int fm, fn, fk;    // forward shape Y[fm,fn] = X[fm,fk] W[fk,fn]
  std::string pass;  // fwd, dX, dW
  bool ta, tb;
  int m, n, k;  // the GEMM call
};

// ----------------------------------------------------------------------------
// Shapes

void add_layer(std::vector<Shape>& out, const std::string& group, int m, int n, int k, bool grads) {
  out.push_back({group, m, n, k, "fwd", false, false, m, n, k});
  if (grads) {
    out.push_back({group, m, n, k, "dX", false, true, m, k, n});  // dX[M,K] = dY[M,N] * W^T
    out.push_back({group, m, n, k, "dW", true, false, k, n, m});  // dW[K,N] = X^T * dY[M,N]
  }
}

std::vector<Shape> make_shapes(const std::vector<std::string>& groups) {
  std::vector<Shape> s;
  auto want = [&](const std::string& g) {
    return std::find(groups.begin(), groups.end(), g) != groups.end();
  };
  if (want("seed")) {
    const int b = 1024;
    for (auto [n, k] : {std::pair{64, 2}, {64, 74}, {128, 64}, {512, 128}, {1, 512}})
      add_layer(s, "seed", b, n, k, true);
  }
  // Criteo-like DLRM. Bx256x512 occurs twice in the model (bottom and top MLP); measured once.
  for (int b : {128, 256}) {
    const std::string g = "criteo-b" + std::to_string(b);
    if (!want(g)) continue;
    for (auto [n, k] : {std::pair{512, 13}, {256, 512}, {64, 256}, {16, 64}, {512, 367}, {1, 256}})
      add_layer(s, g, b, n, k, true);
  }
  if (want("roofline")) add_layer(s, "roofline", 2048, 2048, 2048, false);
  return s;
}

// ----------------------------------------------------------------------------
// Helpers

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], AlignedFree>;
Buffer make_buffer(size_t n) {
  const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  return Buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

// One JSON object, built field by field and printed as one line.
class JsonLine {
 public:
  JsonLine& str(const std::string& key, const char* value) {
    add_key(key);
    if (value == nullptr) {
      body_ += "null";
      return *this;
    }
    body_ += '"';
    for (const char* p = value; *p != 0; ++p) {
      const auto ch = static_cast<unsigned char>(*p);
      if (ch == '"' || ch == '\\') body_ += '\\';
      body_ += ch < 0x20 ? ' ' : *p;
    }
    body_ += '"';
    return *this;
  }
  JsonLine& str(const std::string& key, const std::string& value) {
    return str(key, value.c_str());
  }
  JsonLine& num(const std::string& key, double value, const char* format = "%.3f") {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, std::isfinite(value) ? value : 1e300);
    add_key(key);
    body_ += buf;
    return *this;
  }
  JsonLine& integer(const std::string& key, long long value) {
    add_key(key);
    body_ += std::to_string(value);
    return *this;
  }
  JsonLine& boolean(const std::string& key, bool value) {
    add_key(key);
    body_ += value ? "true" : "false";
    return *this;
  }
  JsonLine& null(const std::string& key) {
    add_key(key);
    body_ += "null";
    return *this;
  }
  void print() const {
    std::printf("{%s}\n", body_.c_str());
    std::fflush(stdout);
  }

 private:
  void add_key(const std::string& key) {
    if (!body_.empty()) body_ += ',';
    body_ += '"';
    body_ += key;
    body_ += "\":";
  }
  std::string body_;
};

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string shape_str(int m, int n, int k) {
  return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
}

// CPU time used by other processes (and the hypervisor: steal), from
// /proc/stat minus this process's own user+system time, in milliseconds.
struct CpuSnap {
  long long busy = 0, steal = 0, self = 0;
};

CpuSnap cpu_snap() {
  CpuSnap c;
  std::ifstream st("/proc/stat");
  std::string name;
  long long v[8] = {};  // user nice system idle iowait irq softirq steal
  st >> name;
  for (long long& x : v) st >> x;
  c.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  c.steal = v[7];
  std::ifstream self("/proc/self/stat");
  std::string line;
  std::getline(self, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string tok;
  long long utime = 0, stime = 0;
  for (int i = 0; i < 13 && rest >> tok; ++i) {  // fields 3..15 of proc(5)
    if (i == 11) utime = std::atoll(tok.c_str());
    if (i == 12) stime = std::atoll(tok.c_str());
  }
  c.self = utime + stime;
  return c;
}

double ticks_ms(long long t) { return 1000.0 * double(t) / double(sysconf(_SC_CLK_TCK)); }
double foreign_ms(const CpuSnap& a, const CpuSnap& b) {
  return ticks_ms(std::max(0LL, (b.busy - a.busy) - (b.self - a.self)));
}

// Waits (sleeping) until a 250 ms window with at most 10 ms of foreign CPU
// time, or until `budget_s` is spent; returns the seconds waited.
double wait_quiet(double budget_s) {
  const auto t0 = Clock::now();
  while (seconds_since(t0) < budget_s) {
    const CpuSnap a = cpu_snap();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (foreign_ms(a, cpu_snap()) <= 10.0) break;
  }
  return seconds_since(t0);
}

// Naive double-precision reference for a set of output entries (all of them,
// or a fixed random sample for the roofline shape).
struct Reference {
  std::vector<size_t> index;     // i * n + j
  std::vector<double> ref, mag;  // sum_k a_ik b_kj and sum_k |a_ik b_kj|
};

Reference make_reference(const Shape& s, const float* a, int lda, const float* b, int ldb) {
  auto at = [&](int i, int p) {
    return static_cast<double>(s.ta ? a[size_t(p) * lda + i] : a[size_t(i) * lda + p]);
  };
  auto bt = [&](int p, int j) {
    return static_cast<double>(s.tb ? b[size_t(j) * ldb + p] : b[size_t(p) * ldb + j]);
  };
  Reference r;
  const double work = double(s.m) * s.n * s.k;
  if (work <= 2.0e8) {
    for (size_t e = 0; e < size_t(s.m) * s.n; ++e) r.index.push_back(e);
  } else {
    std::mt19937 rng(7);
    for (int t = 0; t < 4096; ++t) r.index.push_back(size_t(rng() % s.m) * s.n + rng() % s.n);
  }
  for (size_t e : r.index) {
    const int i = int(e / s.n), j = int(e % s.n);
    double ref = 0, mag = 0;
    for (int p = 0; p < s.k; ++p) {
      const double x = at(i, p) * bt(p, j);
      ref += x;
      mag += std::fabs(x);
    }
    r.ref.push_back(ref);
    r.mag.push_back(mag);
  }
  return r;
}

// Max over the reference entries of |c - ref| / sum_k |a_ik b_kj| (inf for NaN/inf).
double max_rel_err(const Reference& r, const float* c) {
  double worst = 0;
  for (size_t t = 0; t < r.index.size(); ++t) {
    const double got = c[r.index[t]];
    if (!std::isfinite(got)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::fabs(got - r.ref[t]) / std::max(r.mag[t], 1e-30));
  }
  return worst;
}

struct Timing {
  double median_s = 0, min_s = 0;
  int reps = 0, samples = 0;
};

template <class F>
Timing time_it(F&& f, const Options& o, double flops) {
  const bool big = flops > 2e9;  // roofline shape: few, long calls
  int samples = big ? 5 : o.samples;
  const double warmup_s = big ? 0.0 : o.warmup_s;
  const double min_sample_s = big ? 0.0 : o.min_sample_s;
  int warm = 0;
  const auto t0 = Clock::now();
  do {
    f();
    ++warm;
  } while (warm < 2 || seconds_since(t0) < warmup_s);
  const double per_call = seconds_since(t0) / warm;
  if (big && per_call > 0.5) samples = 3;
  const int reps = std::max(1, static_cast<int>(std::ceil(min_sample_s / per_call)));
  std::vector<double> t(samples);
  for (int i = 0; i < samples; ++i) {
    const auto s0 = Clock::now();
    for (int r = 0; r < reps; ++r) f();
    t[i] = seconds_since(s0) / reps;
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), reps, samples};
}

// Splits one GEMM into two halves of the output.
std::pair<GemmArgs, GemmArgs> split_args(const GemmArgs& g, bool split_cols) {
  GemmArgs lo = g, hi = g;
  if (!split_cols) {
    const int h = (g.m + 1) / 2;
    lo.m = h;
    hi.m = g.m - h;
    hi.a = g.ta ? g.a + h : g.a + size_t(h) * g.lda;
    hi.c = g.c + size_t(h) * g.ldc;
  } else {
    const int h = (g.n + 1) / 2;
    lo.n = h;
    hi.n = g.n - h;
    hi.b = g.tb ? g.b + size_t(h) * g.ldb : g.b + h;
    hi.c = g.c + h;
  }
  return {lo, hi};
}

int parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--mode") {
      o.mode = next();
    } else if (a == "--run") {
      o.run = std::atoi(next().c_str());
    } else if (a == "--tag") {
      o.tag = next();
    } else if (a == "--groups") {
      o.groups.clear();
      std::stringstream ss(next());
      for (std::string g; std::getline(ss, g, ',');) o.groups.push_back(g);
    } else if (a == "--samples") {
      o.samples = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--min-sample-ms") {
      o.min_sample_s = std::atof(next().c_str()) * 1e-3;
    } else if (a == "--warmup-ms") {
      o.warmup_s = std::atof(next().c_str()) * 1e-3;
    } else if (a == "--checks") {
      o.checks = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--checks-only") {
      o.checks = std::max(1, std::atoi(next().c_str()));
      o.samples = 0;
    } else if (a == "--quiet-ms") {
      o.quiet_ms = std::atof(next().c_str());
    } else if (a == "--attempts") {
      o.attempts = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--wait-budget-s") {
      o.wait_budget_s = std::atof(next().c_str());
    } else if (a == "--quick") {
      o.samples = 3;
      o.min_sample_s = 1e-4;
      o.warmup_s = 1e-3;
    } else {
      std::fprintf(stderr,
                   "usage: %s --mode 1t|2t|split [--run N] [--tag T] [--groups "
                   "seed,criteo-b128,criteo-b256,roofline]\n"
                   "          [--samples N] [--min-sample-ms X] [--warmup-ms X] [--checks N] "
                   "[--checks-only N]\n"
                   "          [--quiet-ms X] [--attempts N] [--wait-budget-s X] [--quick]\n",
                   argv[0]);
      return 2;
    }
  }
  if (o.mode != "1t" && o.mode != "2t" && o.mode != "split" && o.mode != "2t_epi") {
    std::fprintf(stderr, "--mode must be 1t, 2t, split or 2t_epi\n");
    return 2;
  }
  return 0;
}

int bench_main(int argc, char** argv) {
  Options o;
  if (const int rc = parse_args(argc, argv, o); rc != 0) return rc;
  backend_init();
  const std::string lib = backend_name();
  const int threads = o.mode == "1t" ? 1 : 2;

  Dl_info dl{};
  const char* lib_path = dladdr(backend_symbol(), &dl) != 0 ? dl.dli_fname : nullptr;

  const bool lib2 = o.mode == "2t" || o.mode == "2t_epi";
  if (lib2 && !backend_has_internal_threads()) {
    JsonLine()
        .str("type", "skip")
        .str("lib", lib)
        .str("mode", o.mode)
        .integer("run", o.run)
        .str("tag", o.tag)
        .str("why", "no internal threading")
        .print();
    backend_finalize();
    return 0;
  }
  backend_set_threads(lib2 ? 2 : 1);

  // Team size of the split region, checked once.
  int split_team = 0;
  if (o.mode == "split") {
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      split_team = omp_get_num_threads();
    }
  }

  JsonLine info;
  info.str("type", "info")
      .str("lib", lib)
      .str("mode", o.mode)
      .integer("threads", threads)
      .integer("run", o.run)
      .str("tag", o.tag);
  for (const auto& [key, value] : backend_info()) info.str(key, value);
  info.str("lib_path", lib_path)
      .integer("lib_threads", backend_get_threads())
      .integer("omp_max_threads", omp_get_max_threads())
      .integer("split_team", split_team);
  for (const char* name :
       {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS", "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE", "OMP_PROC_BIND", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"})
    info.str(name, std::getenv(name));
  info.str("loadavg", loadavg()).print();

  // Start when the machine is quiet (within the same waiting budget).
  double waited_s = wait_quiet(std::min(30.0, o.wait_budget_s));
  const double ncpu = double(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));

  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int failures = 0;
  for (const Shape& s : make_shapes(o.groups)) {
    if (o.mode == "2t_epi" && s.pass != "fwd") continue;
    const int a_rows = s.ta ? s.k : s.m, a_cols = s.ta ? s.m : s.k;
    const int b_rows = s.tb ? s.n : s.k, b_cols = s.tb ? s.k : s.n;
    Buffer a = make_buffer(size_t(a_rows) * a_cols), b = make_buffer(size_t(b_rows) * b_cols),
           c = make_buffer(size_t(s.m) * s.n);
    for (size_t i = 0; i < size_t(a_rows) * a_cols; ++i) a[i] = dist(rng);
    for (size_t i = 0; i < size_t(b_rows) * b_cols; ++i) b[i] = dist(rng);
    const GemmArgs args{s.ta, s.tb, s.m, s.n, s.k, a.get(), a_cols, b.get(), b_cols, c.get(), s.n};

    const bool split_cols = s.pass == "dW" && s.n > 1;
    std::string why;
    std::unique_ptr<Gemm> whole, lo, hi;
    if (o.mode == "split") {
      const auto [la, ha] = split_args(args, split_cols);
      lo = backend_make(la, why);
      if (lo) hi = backend_make(ha, why);
    } else {
      whole = backend_make(args, why);
    }

    JsonLine head;
    head.str("type", "gemm")
        .str("lib", lib)
        .str("mode", o.mode)
        .integer("threads", threads)
        .integer("run", o.run)
        .str("tag", o.tag)
        .str("group", s.group)
        .str("fwd_shape", shape_str(s.fm, s.fn, s.fk))
        .str("pass", s.pass)
        .str("shape", shape_str(s.m, s.n, s.k))
        .integer("M", s.m)
        .integer("N", s.n)
        .integer("K", s.k)
        .str("transA", s.ta ? "T" : "N")
        .str("transB", s.tb ? "T" : "N");
    if (!whole && !(lo && hi)) {
      head.boolean("supported", false).str("why", why).print();
      continue;
    }

    Gemm* halves[2] = {lo.get(), hi.get()};
    std::vector<float> bias(size_t(s.n), 0.0f);
    auto call = [&]() {
      if (whole) {
        whole->run();
      } else {
#pragma omp parallel num_threads(2)
        halves[omp_get_thread_num()]->run();
      }
    };
    // 2t_epi: the GEMM, then an MLP epilogue (bias + ReLU) in recblocks' own OpenMP
    // pool, as a layer would run; shows whether the library's pool and OpenMP's compete.
    auto call_epi = [&]() {
      whole->run();
      float* cp = c.get();
      const float* bp = bias.data();
      const int rows = s.m, cols = s.n;
#pragma omp parallel for num_threads(2) schedule(static)
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j)
          cp[size_t(i) * cols + j] = std::max(cp[size_t(i) * cols + j] + bp[j], 0.0f);
    };

    // Correctness: `checks` times (1 unless --checks), each on a NaN-filled C.
    const Reference ref = make_reference(s, a.get(), a_cols, b.get(), b_cols);
    const double tol = std::max(1e-6, 2.0 * s.k * 6e-8);
    double err = 0;
    int bad = 0;
    for (int r = 0; r < o.checks; ++r) {
      std::fill(c.get(), c.get() + size_t(s.m) * s.n, std::numeric_limits<float>::quiet_NaN());
      call();
      const double e = max_rel_err(ref, c.get());
      err = std::max(err, e);
      if (!(e <= tol)) ++bad;
    }
    const bool ok = bad == 0;
    if (!ok) ++failures;
    head.boolean("supported", true);
    if (o.mode == "split") {
      head.str("split", split_cols ? "cols" : "rows");
    } else {
      head.null("split");
    }
    if (o.samples == 0) {  // --checks-only
      head.integer("checks", o.checks)
          .integer("bad_checks", bad)
          .num("max_rel_err", err, "%.3e")
          .num("tol", tol, "%.1e")
          .boolean("ok", ok)
          .print();
      continue;
    }

    const double flops = 2.0 * s.m * s.n * s.k;
    Timing t;
    double foreign = std::numeric_limits<double>::infinity(), steal = 0;
    int attempts = 0;
    double allowed_ms = o.quiet_ms;
    for (; attempts < o.attempts;) {
      const CpuSnap c0 = cpu_snap();
      const auto w0 = Clock::now();
      const Timing ti = o.mode == "2t_epi" ? time_it(call_epi, o, flops) : time_it(call, o, flops);
      const CpuSnap c1 = cpu_snap();
      // Background daemons: allow 1 % of the window's CPU capacity on top of quiet_ms.
      allowed_ms = o.quiet_ms + 0.01 * 1000.0 * seconds_since(w0) * ncpu;
      ++attempts;
      const double f = foreign_ms(c0, c1);
      if (f < foreign) {
        t = ti;
        foreign = f;
        steal = ticks_ms(c1.steal - c0.steal);
      }
      if (foreign <= allowed_ms || attempts >= o.attempts) break;
      if (waited_s < o.wait_budget_s)
        waited_s += wait_quiet(std::min(10.0, o.wait_budget_s - waited_s));
    }
    head.num("gflops", flops / t.median_s * 1e-9)
        .num("median_us", t.median_s * 1e6)
        .num("min_us", t.min_s * 1e6)
        .integer("reps", t.reps)
        .integer("samples", t.samples)
        .integer("attempts", attempts)
        .num("foreign_ms", foreign, "%.0f")
        .num("steal_ms", steal, "%.0f")
        .boolean("contended", foreign > allowed_ms)
        .integer("checks", o.checks)
        .integer("bad_checks", bad)
        .num("max_rel_err", err, "%.3e")
        .num("tol", tol, "%.1e")
        .boolean("ok", ok)
        .print();
  }
  JsonLine()
      .str("type", "done")
      .str("lib", lib)
      .str("mode", o.mode)
      .integer("run", o.run)
      .str("tag", o.tag)
      .integer("failures", failures)
      .num("waited_s", waited_s, "%.1f")
      .str("loadavg", loadavg())
      .print();
  backend_finalize();
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace gemmbench

int main(int argc, char** argv) { return gemmbench::bench_main(argc, argv); }
