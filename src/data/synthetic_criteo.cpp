// The criteo shape of the synthetic generator (synthetic.h).
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <limits>
#include <map>

#include "data/synthetic_common.h"
#include "recblocks/data/criteo.h"
#include "recblocks/data/etl.h"
#include "recblocks/data/synthetic.h"

namespace recblocks::datasets {
namespace {

using namespace synthetic_detail;  // NOLINT(google-build-using-namespace)
namespace fs = std::filesystem;
using nlohmann::json;

// ---- criteo ---------------------------------------------------------------------

// Criteo-like marginals, read off the Kaggle data: how often each field is
// missing, and the log-scale location and spread of the integer counts.
constexpr std::array<double, 13> kDenseMissingRate = {0.45, 0.0,  0.17, 0.17, 0.03, 0.25, 0.05,
                                                      0.0,  0.05, 0.45, 0.05, 0.78, 0.17};
constexpr std::array<double, 13> kDenseMu = {0.5, 2.0, 1.8, 1.6, 7.5, 4.0, 1.2,
                                             2.5, 3.5, 0.3, 1.0, 0.3, 1.5};
constexpr std::array<double, 13> kDenseSigma = {1.2, 1.5, 1.4, 1.0, 2.0, 1.6, 1.3,
                                                1.0, 1.3, 0.8, 1.0, 1.0, 1.1};
constexpr std::array<double, 26> kNullRate = {0,    0,    0.03, 0.03, 0, 0.12, 0,    0,   0,
                                              0,    0,    0.03, 0,    0, 0,    0.03, 0,   0,
                                              0.44, 0.44, 0.03, 0.76, 0, 0.03, 0.44, 0.44};
constexpr int kUserTable = 2;  // C3 and C4 carry the hidden factors
constexpr int kItemTable = 3;
constexpr double kCriteoEffectScale = 0.15;
constexpr double kCriteoDenseWeight = 0.25;
constexpr double kCriteoPositiveRate = 0.25;

// One row before it becomes columns.
struct CriteoRow {
  std::array<std::int64_t, 13> raw{};  // the integer count (when present)
  std::array<bool, 13> missing{};
  std::array<std::int64_t, 26> rank{};  // popularity rank; -1 = null
};

class CriteoGenerator {
 public:
  explicit CriteoGenerator(const SyntheticCriteoOptions& o)
      : seed_(o.seed),
        dense_(o.seed, kDense),
        dense_missing_(o.seed, kDenseMissing),
        negative_(o.seed, kDense, 1) {
    const auto& sizes = o.table_sizes.empty()
                            ? std::vector<std::int64_t>(kCriteoKaggleTableSizes.begin(),
                                                        kCriteoKaggleTableSizes.end())
                            : o.table_sizes;
    RB_CHECK(sizes.size() == 26, ValueError, "synthetic criteo: {} table sizes, expected 26",
             sizes.size());
    for (std::size_t t = 0; t < 26; ++t) {
      RB_CHECK(sizes[t] >= 1, ValueError, "synthetic criteo: table C{} has size {}, expected >= 1",
               t + 1, sizes[t]);
      sizes_[t] = o.max_table_size > 0 ? std::min(sizes[t], o.max_table_size) : sizes[t];
      laws_.emplace_back(sizes_[t], o.zipf_exponent);
      ids_.emplace_back(seed_, kId, t);
      nulls_.emplace_back(seed_, kNull, t);
      effects_[t] = normal_table(Stream(seed_, kEffect, t), sizes_[t], kCriteoEffectScale);
    }
    const double factor_scale = std::pow(1.0 / kFactorDim, 0.25);  // <u, v> has variance 1
    users_ =
        normal_table(Stream(seed_, kUserFactor), sizes_[kUserTable] * kFactorDim, factor_scale);
    items_ =
        normal_table(Stream(seed_, kItemFactor), sizes_[kItemTable] * kFactorDim, factor_scale);
    const Stream w(seed_, kDenseWeight);
    for (std::size_t j = 0; j < 13; ++j) dense_weight_[j] = kCriteoDenseWeight * w.normal(j);
    for (std::size_t t = 0; t < 26; ++t)
      salts_[t] = static_cast<std::uint32_t>(Stream(seed_, kHexSalt).bits(t));
  }

  const std::array<std::int64_t, 26>& sizes() const { return sizes_; }

  void draw(std::int64_t row, CriteoRow& r) const {
    const auto i = static_cast<std::uint64_t>(row);
    for (std::size_t j = 0; j < 13; ++j) {
      const std::uint64_t k = i * 13 + j;
      r.missing[j] = kDenseMissingRate[j] > 0 && dense_missing_.uniform(k) < kDenseMissingRate[j];
      r.raw[j] = 0;
      if (r.missing[j]) continue;
      const double v = kDenseMu[j] + kDenseSigma[j] * dense_.normal(k);
      r.raw[j] =
          std::max<std::int64_t>(0, static_cast<std::int64_t>(std::exp(std::min(v, 20.0))) - 1);
      // I2 holds a few -1s in the real data.
      if (j == 1 && negative_.uniform(i) < 0.05) r.raw[j] = -1;
    }
    for (std::size_t t = 0; t < 26; ++t) {
      const bool null = kNullRate[t] > 0 && nulls_[t].uniform(i) < kNullRate[t];
      r.rank[t] = null ? -1 : laws_[t].rank(ids_[t].uniform(i));
    }
  }

  static float dense_value(const CriteoRow& r, std::size_t j) {
    return r.missing[j] ? 0.0f
                        : static_cast<float>(
                              std::log1p(static_cast<double>(std::max<std::int64_t>(r.raw[j], 0))));
  }

  // The planted logit, without the bias.
  float logit(const CriteoRow& r) const {
    double z = 0;
    for (std::size_t t = 0; t < 26; ++t) {
      if (r.rank[t] >= 0) z += effects_[t][static_cast<std::size_t>(r.rank[t])];
    }
    if (r.rank[kUserTable] >= 0 && r.rank[kItemTable] >= 0) {
      z += dot(&users_[static_cast<std::size_t>(r.rank[kUserTable] * kFactorDim)],
               &items_[static_cast<std::size_t>(r.rank[kItemTable] * kFactorDim)]);
    }
    for (std::size_t j = 0; j < 13; ++j) {
      if (!r.missing[j]) z += dense_weight_[j] * (dense_value(r, j) - kDenseMu[j]) / kDenseSigma[j];
    }
    return static_cast<float>(z);
  }

  // The raw file's 8 hex digits for a rank of table t.
  std::uint32_t hex(std::size_t t, std::int64_t rank) const {
    return fmix32(static_cast<std::uint32_t>(rank) ^ salts_[t]);
  }

 private:
  std::uint64_t seed_;
  Stream dense_, dense_missing_, negative_;
  std::vector<Stream> ids_, nulls_;  // per table
  std::array<std::int64_t, 26> sizes_{};
  std::vector<PowerLaw> laws_;
  std::array<std::vector<float>, 26> effects_;
  std::vector<float> users_, items_;
  std::array<double, 13> dense_weight_{};
  std::array<std::uint32_t, 26> salts_{};
};

// The raw integers of the rows, kept for the TSV (kMissingCount = empty).
constexpr std::int32_t kMissingCount = std::numeric_limits<std::int32_t>::min();

// Appends the decimal or the 8 hex digits of v.
void append_int(std::string& buf, std::int64_t v) {
  char tmp[24];
  const auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
  buf.append(tmp, end);
}
void append_hex8(std::string& buf, std::uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char tmp[8];
  for (int k = 7; k >= 0; --k, v >>= 4) tmp[k] = kDigits[v & 15u];
  buf.append(tmp, 8);
}

// Writes rows [begin, end) in the original TSV format (label, I1..I13 raw
// counts, C1..C26 as 8 hex digits), formatted in parallel chunks that are
// appended in order.
void write_criteo_tsv(const fs::path& path, const CriteoGenerator& gen,
                      const std::vector<std::uint8_t>& labels,
                      const std::vector<std::int32_t>& counts,
                      const std::array<std::int32_t*, 26>& ids, std::int64_t begin,
                      std::int64_t end) {
  const fs::path tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  RB_CHECK(f != nullptr, Error, "{}: cannot open for writing", tmp.string());
  constexpr std::int64_t kChunk = 1 << 15;
  const int threads = std::max(1, num_threads());
  std::vector<std::string> buffers(static_cast<std::size_t>(threads));
  bool ok = true;
  for (std::int64_t c0 = begin; c0 < end && ok; c0 += kChunk * threads) {
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      std::string& buf = buffers[static_cast<std::size_t>(t)];
      buf.clear();
      const std::int64_t b = std::min(end, c0 + t * kChunk), e = std::min(end, b + kChunk);
      for (std::int64_t i = b; i < e; ++i) {
        buf.push_back(static_cast<char>('0' + labels[static_cast<std::size_t>(i)]));
        for (std::size_t j = 0; j < 13; ++j) {
          buf.push_back('\t');
          const std::int32_t x = counts[static_cast<std::size_t>(i) * 13 + j];
          if (x != kMissingCount) append_int(buf, x);
        }
        for (std::size_t k = 0; k < 26; ++k) {
          buf.push_back('\t');
          const std::int32_t id = ids[k][i];
          if (id != etl::kNullId) append_hex8(buf, gen.hex(k, id - etl::kFirstValueId));
        }
        buf.push_back('\n');
      }
    }
    for (const auto& buf : buffers)
      ok = ok && std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
  }
  ok = std::fclose(f) == 0 && ok;
  RB_CHECK(ok, Error, "{}: write failed", tmp.string());
  io::fsync_path(tmp);
  fs::rename(tmp, path);
}

}  // namespace

SyntheticResult synthetic_criteo(const fs::path& out, const SyntheticCriteoOptions& o) {
  RB_CHECK(o.rows >= 1, ValueError, "synthetic criteo: rows {}, expected >= 1", o.rows);
  const std::int64_t train_rows = train_rows_of(o.rows, o.valid_fraction);
  const CriteoGenerator gen(o);
  const std::int64_t n = o.rows;

  std::map<std::string, Column> columns;
  std::array<float*, 13> dense{};
  std::array<std::int32_t*, 26> ids{};
  for (int j = 0; j < 13; ++j) {
    auto& c = columns[criteo_dense_name(j)];
    c.values = Tensor::empty({n}, DType::kFloat32);
    dense[static_cast<std::size_t>(j)] = c.values.data<float>();
  }
  for (int t = 0; t < 26; ++t) {
    auto& c = columns[criteo_categorical_name(t)];
    c.values = Tensor::empty({n}, DType::kInt32);
    ids[static_cast<std::size_t>(t)] = c.values.data<std::int32_t>();
  }
  std::vector<float> logits(static_cast<std::size_t>(n));
  std::vector<std::int32_t> counts(o.write_tsv ? static_cast<std::size_t>(n) * 13 : 0);
  parallel_for(n, [&](std::int64_t i) {
    CriteoRow row;
    gen.draw(i, row);
    for (std::size_t j = 0; j < 13; ++j) dense[j][i] = CriteoGenerator::dense_value(row, j);
    if (o.write_tsv) {
      for (std::size_t j = 0; j < 13; ++j) {
        counts[static_cast<std::size_t>(i) * 13 + j] =
            row.missing[j] ? kMissingCount : static_cast<std::int32_t>(row.raw[j]);  // < e^20
      }
    }
    for (std::size_t t = 0; t < 26; ++t) {
      ids[t][i] = row.rank[t] < 0 ? etl::kNullId
                                  : static_cast<std::int32_t>(etl::kFirstValueId + row.rank[t]);
    }
    logits[static_cast<std::size_t>(i)] = gen.logit(row);
  });

  SyntheticResult r;
  draw_targets(logits, kCriteoPositiveRate, o.seed, train_rows, r);
  Tensor label = Tensor::empty({n}, DType::kInt32);
  for (std::int64_t i = 0; i < n; ++i)
    label.data<std::int32_t>()[i] = r.labels[static_cast<std::size_t>(i)];
  columns["label"].values = label;

  std::vector<std::int64_t> cards;
  for (std::int64_t s : gen.sizes()) cards.push_back(s + etl::kFirstValueId);
  Schema schema = criteo_schema(cards);
  json meta = {{"generator", "recblocks synthetic"},
               {"shape", "criteo"},
               {"seed", o.seed},
               {"zipf_exponent", o.zipf_exponent},
               {"table_sizes", gen.sizes()},
               {"max_table_size", o.max_table_size},
               {"train_rows", train_rows},
               {"valid_rows", n - train_rows}};
  schema =
      schema.with_column(schema.column("label").with_properties({{"synthetic", result_json(r)}}));

  // The whole folder is staged and replaces `out` in one step: a killed
  // run leaves the previous folder, never a new train/ beside an old valid/.
  io::StagedDirectory staged(out);
  save_split(Dataset(schema, std::move(columns)), train_rows, staged, r);
  if (o.write_tsv) {
    fs::create_directories(staged.path() / "raw");
    write_criteo_tsv(staged.path() / "raw" / "train.tsv", gen, r.labels, counts, ids, 0,
                     train_rows);
    r.written.push_back(staged.target() / "raw" / "train.tsv");
    if (train_rows < n) {
      write_criteo_tsv(staged.path() / "raw" / "valid.tsv", gen, r.labels, counts, ids, train_rows,
                       n);
      r.written.push_back(staged.target() / "raw" / "valid.tsv");
    }
  }
  write_metadata(staged, meta, r);
  staged.commit();
  return r;
}

}  // namespace recblocks::datasets
