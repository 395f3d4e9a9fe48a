#include "recblocks/data/etl.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

#include "recblocks/core/error.h"
#include "recblocks/core/rng.h"
#include "recblocks/core/threads.h"
#include "recblocks/io/atomic.h"

namespace recblocks::etl {

// ---------------------------------------------------------------------------
// Hashing

std::uint64_t hash_key(std::int64_t key) { return mix64(static_cast<std::uint64_t>(key)); }

// "rbhash1": 8-byte little-endian words folded with mix64, the tail
// zero-padded, the length mixed in last. Part of the saved state's format:
// do not change without bumping the name.
std::uint64_t hash_key(std::string_view key) {
  std::uint64_t h = 0;
  const char* p = key.data();
  std::size_t n = key.size();
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix64(h ^ w);
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    for (std::size_t i = 0; i < n; ++i)
      w |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    h = mix64(h ^ w);
  }
  return mix64(h ^ key.size());
}

// ---------------------------------------------------------------------------
// Key table: open addressing with linear probing over entry indices. Holds
// the counts while fitting and the vocabulary (entry i = id 3 + i) after.

struct Categorify::Impl {
  std::string chars;                  // string keys, back to back
  std::vector<std::uint64_t> offset;  // string key i = chars[offset[i], +length[i])
  std::vector<std::uint32_t> length;
  std::vector<std::int64_t> ints;  // int keys
  std::vector<std::int64_t> counts;
  std::vector<std::uint64_t> hashes;
  std::vector<std::uint32_t> slots;  // entry + 1; 0 = empty
  std::uint64_t mask = 0;

  std::int64_t size() const { return static_cast<std::int64_t>(counts.size()); }
  std::string_view string_at(std::int64_t i) const {
    return {chars.data() + offset[static_cast<std::size_t>(i)],
            length[static_cast<std::size_t>(i)]};
  }

  template <class Equal>
  std::int64_t find(std::uint64_t h, Equal&& equal) const {
    if (slots.empty()) return -1;
    for (std::uint64_t s = h & mask;; s = (s + 1) & mask) {
      const std::uint32_t e = slots[s];
      if (e == 0) return -1;
      if (hashes[e - 1] == h && equal(e - 1)) return e - 1;
    }
  }
  std::int64_t find(std::string_view key, std::uint64_t h) const {
    return find(h, [&](std::uint32_t e) { return string_at(e) == key; });
  }
  std::int64_t find(std::int64_t key, std::uint64_t h) const {
    return find(h, [&](std::uint32_t e) { return ints[e] == key; });
  }

  void place(std::uint32_t entry) {
    std::uint64_t s = hashes[entry] & mask;
    while (slots[s] != 0) s = (s + 1) & mask;
    slots[s] = entry + 1;
  }
  void rehash(std::size_t capacity) {
    slots.assign(capacity, 0);
    mask = capacity - 1;
    for (std::uint32_t e = 0; e < counts.size(); ++e) place(e);
  }
  // Keeps the load at most 1/2.
  void reserve_one() {
    if ((counts.size() + 1) * 2 > slots.size()) rehash(std::max<std::size_t>(16, slots.size() * 2));
  }

  void add(std::string_view key, std::uint64_t h, std::int64_t n) {
    const std::int64_t e = find(key, h);
    if (e >= 0) {
      counts[static_cast<std::size_t>(e)] += n;
      return;
    }
    RB_CHECK(counts.size() < std::numeric_limits<std::uint32_t>::max() - 1, ValueError,
             "Categorify: more than 2^32 distinct keys");
    reserve_one();
    offset.push_back(chars.size());
    length.push_back(static_cast<std::uint32_t>(key.size()));
    chars.append(key);
    push_entry(h, n);
  }
  void add(std::int64_t key, std::uint64_t h, std::int64_t n) {
    const std::int64_t e = find(key, h);
    if (e >= 0) {
      counts[static_cast<std::size_t>(e)] += n;
      return;
    }
    RB_CHECK(counts.size() < std::numeric_limits<std::uint32_t>::max() - 1, ValueError,
             "Categorify: more than 2^32 distinct keys");
    reserve_one();
    ints.push_back(key);
    push_entry(h, n);
  }
  void push_entry(std::uint64_t h, std::int64_t n) {
    counts.push_back(n);
    hashes.push_back(h);
    place(static_cast<std::uint32_t>(counts.size() - 1));
  }

  // Keeps entries `order` (in that order) and rebuilds the table.
  void keep(const std::vector<std::uint32_t>& order, bool strings) {
    Impl next;
    next.counts.reserve(order.size());
    for (std::uint32_t e : order) {
      if (strings) {
        next.offset.push_back(next.chars.size());
        next.length.push_back(length[e]);
        next.chars.append(string_at(e));
      } else {
        next.ints.push_back(ints[e]);
      }
      next.counts.push_back(counts[e]);
      next.hashes.push_back(hashes[e]);
    }
    std::size_t capacity = 16;
    while (capacity < next.counts.size() * 2) capacity *= 2;
    next.rehash(capacity);
    *this = std::move(next);
  }
};

// ---------------------------------------------------------------------------
// Categorify

Categorify::Categorify(std::string column, CategorifyOptions options)
    : column_(std::move(column)), options_(options), impl_(std::make_unique<Impl>()) {
  RB_CHECK(options_.min_frequency >= 0 && options_.max_size >= 0 && options_.num_buckets >= 0,
           ValueError,
           "Categorify '{}': min_frequency ({}), max_size ({}) and num_buckets ({}) must be >= 0",
           column_, options_.min_frequency, options_.max_size, options_.num_buckets);
}
Categorify::~Categorify() = default;
Categorify::Categorify(const Categorify& other)
    : column_(other.column_),
      options_(other.options_),
      kind_(other.kind_),
      fitted_(other.fitted_),
      null_count_(other.null_count_),
      impl_(std::make_unique<Impl>(*other.impl_)) {}
Categorify& Categorify::operator=(const Categorify& other) {
  if (this != &other) *this = Categorify(other);
  return *this;
}
Categorify::Categorify(Categorify&&) noexcept = default;
Categorify& Categorify::operator=(Categorify&&) noexcept = default;

namespace {

std::string_view kind_name(KeyKind kind) {
  switch (kind) {
    case KeyKind::kString: return "string";
    case KeyKind::kInt64: return "int64";
    case KeyKind::kNone: break;
  }
  return "none";
}

// Pure hashing keeps no vocabulary: every key goes to a bucket.
bool pure_hashing(const CategorifyOptions& o) {
  return o.num_buckets > 0 && o.min_frequency <= 1 && o.max_size == 0;
}

}  // namespace

void Categorify::set_kind(KeyKind kind) {
  RB_CHECK(!fitted_, ValueError, "Categorify '{}': update() after finalize()", column_);
  RB_CHECK(kind_ == KeyKind::kNone || kind_ == kind, ValueError,
           "Categorify '{}': fitted on {} keys, got {} keys", column_, kind_name(kind_),
           kind_name(kind));
  kind_ = kind;
}

void Categorify::update(std::span<const std::string_view> keys) {
  set_kind(KeyKind::kString);
  const bool count_keys = !pure_hashing(options_);
  for (std::string_view key : keys) {
    if (key.empty()) {
      ++null_count_;
    } else if (count_keys) {
      impl_->add(key, hash_key(key), 1);
    }
  }
}

void Categorify::update(std::span<const std::int64_t> keys, std::span<const std::uint8_t> is_null) {
  set_kind(KeyKind::kInt64);
  RB_CHECK(is_null.empty() || is_null.size() == keys.size(), ShapeError,
           "Categorify '{}': is_null has {} values, keys {}", column_, is_null.size(), keys.size());
  const bool count_keys = !pure_hashing(options_);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!is_null.empty() && is_null[i]) {
      ++null_count_;
    } else if (count_keys) {
      impl_->add(keys[i], hash_key(keys[i]), 1);
    }
  }
}

void Categorify::update_counts(std::span<const std::string_view> keys,
                               std::span<const std::int64_t> counts) {
  set_kind(KeyKind::kString);
  RB_CHECK(keys.size() == counts.size(), ShapeError, "Categorify '{}': {} keys but {} counts",
           column_, keys.size(), counts.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    RB_CHECK(counts[i] >= 0, ValueError, "Categorify '{}': negative count {} for key '{}'", column_,
             counts[i], keys[i]);
    if (keys[i].empty()) {
      null_count_ += counts[i];
    } else if (counts[i] > 0 && !pure_hashing(options_)) {
      impl_->add(keys[i], hash_key(keys[i]), counts[i]);
    }
  }
}

void Categorify::update_counts(std::span<const std::int64_t> keys,
                               std::span<const std::int64_t> counts,
                               std::span<const std::uint8_t> is_null) {
  set_kind(KeyKind::kInt64);
  RB_CHECK(keys.size() == counts.size(), ShapeError, "Categorify '{}': {} keys but {} counts",
           column_, keys.size(), counts.size());
  RB_CHECK(is_null.empty() || is_null.size() == keys.size(), ShapeError,
           "Categorify '{}': is_null has {} values, keys {}", column_, is_null.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    RB_CHECK(counts[i] >= 0, ValueError, "Categorify '{}': negative count {} for key {}", column_,
             counts[i], keys[i]);
    if (!is_null.empty() && is_null[i]) {
      null_count_ += counts[i];
    } else if (counts[i] > 0 && !pure_hashing(options_)) {
      impl_->add(keys[i], hash_key(keys[i]), counts[i]);
    }
  }
}

void Categorify::finalize() {
  RB_CHECK(!fitted_, ValueError, "Categorify '{}': finalize() called twice", column_);
  Impl& t = *impl_;
  std::vector<std::uint32_t> order;
  order.reserve(t.counts.size());
  for (std::uint32_t e = 0; e < t.counts.size(); ++e) {
    if (t.counts[e] >= options_.min_frequency) order.push_back(e);
  }
  const bool strings = kind_ == KeyKind::kString;
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    if (t.counts[a] != t.counts[b]) return t.counts[a] > t.counts[b];
    return strings ? t.string_at(a) < t.string_at(b) : t.ints[a] < t.ints[b];
  });
  if (options_.max_size > 0 && static_cast<std::int64_t>(order.size()) > options_.max_size) {
    order.resize(static_cast<std::size_t>(options_.max_size));
  }
  const std::int64_t last_id =
      kFirstValueId - 1 + static_cast<std::int64_t>(order.size()) + options_.num_buckets;
  RB_CHECK(last_id <= std::numeric_limits<std::int32_t>::max(), ValueError,
           "Categorify '{}': {} keys + {} buckets do not fit int32 ids", column_, order.size(),
           options_.num_buckets);
  t.keep(order, strings);
  fitted_ = true;
}

Categorify& Categorify::fit(std::span<const std::string_view> keys) {
  update(keys);
  finalize();
  return *this;
}

Categorify& Categorify::fit(std::span<const std::int64_t> keys,
                            std::span<const std::uint8_t> is_null) {
  update(keys, is_null);
  finalize();
  return *this;
}

void Categorify::require_fitted(const char* what) const {
  RB_CHECK(fitted_, ValueError, "Categorify '{}': {} before fit()/finalize()", column_, what);
}

std::int64_t Categorify::vocabulary_size() const { return impl_->size(); }

std::int32_t Categorify::max_id() const {
  return static_cast<std::int32_t>(kFirstValueId - 1 + vocabulary_size() + options_.num_buckets);
}

Domain Categorify::domain() const {
  require_fitted("domain()");
  return Domain{0, max_id(), column_};
}

std::string_view Categorify::string_key(std::int64_t i) const {
  RB_CHECK(kind_ == KeyKind::kString && i >= 0 && i < vocabulary_size(), ValueError,
           "Categorify '{}': no string key {} (kind {}, {} keys)", column_, i, kind_name(kind_),
           vocabulary_size());
  return impl_->string_at(i);
}

std::int64_t Categorify::int_key(std::int64_t i) const {
  RB_CHECK(kind_ == KeyKind::kInt64 && i >= 0 && i < vocabulary_size(), ValueError,
           "Categorify '{}': no int64 key {} (kind {}, {} keys)", column_, i, kind_name(kind_),
           vocabulary_size());
  return impl_->ints[static_cast<std::size_t>(i)];
}

std::int64_t Categorify::count(std::int64_t i) const {
  RB_CHECK(i >= 0 && i < vocabulary_size(), ValueError, "Categorify '{}': no key {} ({} keys)",
           column_, i, vocabulary_size());
  return impl_->counts[static_cast<std::size_t>(i)];
}

// The id of a key without one: its bucket, else OOV; -1 asks the caller to
// raise.
std::int32_t Categorify::missing_id(std::uint64_t hash) const {
  if (options_.num_buckets > 0) {
    return static_cast<std::int32_t>(
        kFirstValueId + vocabulary_size() +
        static_cast<std::int64_t>(hash % static_cast<std::uint64_t>(options_.num_buckets)));
  }
  return options_.on_oov == OnOov::kMapToOov ? kOovId : -1;
}

namespace {

// Runs body(i) -> id for i in [0, n) into out, in parallel for large n;
// returns the first row whose id was -1 (a key to raise on), or -1.
template <class Body>
std::int64_t fill_ids(std::size_t n, std::span<std::int32_t> out, Body&& body) {
  std::int64_t first_bad = std::numeric_limits<std::int64_t>::max();
  const auto count = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(static) reduction(min : first_bad) if (count > 4 * kParallelGrain)
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int32_t id = body(static_cast<std::size_t>(i));
    out[static_cast<std::size_t>(i)] = id;
    if (id < 0 && i < first_bad) first_bad = i;
  }
  return first_bad == std::numeric_limits<std::int64_t>::max() ? -1 : first_bad;
}

// " (row 12)" for an error message; nothing for a single key (row < 0).
std::string row_note(std::int64_t row) {
  return row < 0 ? std::string() : fmt::format(" (row {})", row);
}

}  // namespace

void Categorify::transform(std::span<const std::string_view> keys, std::span<std::int32_t> out,
                           std::int64_t row_offset) const {
  require_fitted("transform()");
  RB_CHECK(kind_ != KeyKind::kInt64, ValueError,
           "Categorify '{}': fitted on int64 keys, transform() got strings", column_);
  RB_CHECK(out.size() == keys.size(), ShapeError, "Categorify '{}': {} keys but out has {} values",
           column_, keys.size(), out.size());
  const Impl& t = *impl_;
  const std::int64_t bad = fill_ids(keys.size(), out, [&](std::size_t i) -> std::int32_t {
    const std::string_view key = keys[i];
    if (key.empty()) return kNullId;
    const std::uint64_t h = hash_key(key);
    const std::int64_t e = t.find(key, h);
    if (e >= 0) return static_cast<std::int32_t>(kFirstValueId + e);
    return missing_id(h);
  });
  RB_CHECK(bad < 0, ValueError,
           "Categorify '{}': value '{}'{} is not in the vocabulary of {} keys (on_oov = raise)",
           column_, bad < 0 ? std::string_view{} : keys[static_cast<std::size_t>(bad)],
           row_note(row_offset < 0 ? -1 : bad + row_offset), vocabulary_size());
}

void Categorify::transform(std::span<const std::int64_t> keys, std::span<std::int32_t> out,
                           std::span<const std::uint8_t> is_null, std::int64_t row_offset) const {
  require_fitted("transform()");
  RB_CHECK(kind_ != KeyKind::kString, ValueError,
           "Categorify '{}': fitted on string keys, transform() got int64 keys", column_);
  RB_CHECK(out.size() == keys.size(), ShapeError, "Categorify '{}': {} keys but out has {} values",
           column_, keys.size(), out.size());
  RB_CHECK(is_null.empty() || is_null.size() == keys.size(), ShapeError,
           "Categorify '{}': is_null has {} values, keys {}", column_, is_null.size(), keys.size());
  const Impl& t = *impl_;
  const std::int64_t bad = fill_ids(keys.size(), out, [&](std::size_t i) -> std::int32_t {
    if (!is_null.empty() && is_null[i]) return kNullId;
    const std::uint64_t h = hash_key(keys[i]);
    const std::int64_t e = t.find(keys[i], h);
    if (e >= 0) return static_cast<std::int32_t>(kFirstValueId + e);
    return missing_id(h);
  });
  RB_CHECK(bad < 0, ValueError,
           "Categorify '{}': value {}{} is not in the vocabulary of {} keys (on_oov = raise)",
           column_, bad < 0 ? 0 : keys[static_cast<std::size_t>(bad)],
           row_note(row_offset < 0 ? -1 : bad + row_offset), vocabulary_size());
}

Tensor Categorify::transform(std::span<const std::string_view> keys) const {
  Tensor ids = Tensor::empty({static_cast<std::int64_t>(keys.size())}, DType::kInt32);
  transform(keys, {ids.data<std::int32_t>(), keys.size()});
  return ids;
}

Tensor Categorify::transform(std::span<const std::int64_t> keys,
                             std::span<const std::uint8_t> is_null) const {
  Tensor ids = Tensor::empty({static_cast<std::int64_t>(keys.size())}, DType::kInt32);
  transform(keys, {ids.data<std::int32_t>(), keys.size()}, is_null);
  return ids;
}

std::int32_t Categorify::id(std::string_view key) const {
  std::int32_t out = 0;
  transform(std::span<const std::string_view>(&key, 1), std::span<std::int32_t>(&out, 1), -1);
  return out;
}

std::int32_t Categorify::lookup(std::string_view key) const {
  require_fitted("lookup()");
  RB_CHECK(kind_ != KeyKind::kInt64, ValueError,
           "Categorify '{}': fitted on int64 keys, lookup() got a string", column_);
  if (key.empty()) return kNullId;
  const std::uint64_t h = hash_key(key);
  const std::int64_t e = impl_->find(key, h);
  if (e >= 0) return static_cast<std::int32_t>(kFirstValueId + e);
  return options_.num_buckets > 0 ? missing_id(h) : -1;
}

std::int32_t Categorify::lookup(std::int64_t key) const {
  require_fitted("lookup()");
  RB_CHECK(kind_ != KeyKind::kString, ValueError,
           "Categorify '{}': fitted on string keys, lookup() got an int64", column_);
  const std::uint64_t h = hash_key(key);
  const std::int64_t e = impl_->find(key, h);
  if (e >= 0) return static_cast<std::int32_t>(kFirstValueId + e);
  return options_.num_buckets > 0 ? missing_id(h) : -1;
}

std::int32_t Categorify::id(std::int64_t key) const {
  std::int32_t out = 0;
  transform(std::span<const std::int64_t>(&key, 1), std::span<std::int32_t>(&out, 1), {}, -1);
  return out;
}

// ---------------------------------------------------------------------------
// Saved state

nlohmann::json Categorify::to_json() const {
  require_fitted("to_json()");
  nlohmann::json j;
  j["column"] = column_;
  j["kind"] = kind_name(kind_);
  j["hash"] = "rbhash1";
  j["options"] = {{"min_frequency", options_.min_frequency},
                  {"max_size", options_.max_size},
                  {"num_buckets", options_.num_buckets},
                  {"on_oov", options_.on_oov == OnOov::kRaise ? "raise" : "map_to_oov"}};
  j["null_count"] = null_count_;
  nlohmann::json keys = nlohmann::json::array();
  for (std::int64_t i = 0; i < vocabulary_size(); ++i) {
    if (kind_ == KeyKind::kString) {
      keys.push_back(std::string(impl_->string_at(i)));
    } else {
      keys.push_back(impl_->ints[static_cast<std::size_t>(i)]);
    }
  }
  j["keys"] = std::move(keys);
  j["counts"] = impl_->counts;
  return j;
}

Categorify Categorify::from_json(const nlohmann::json& j, std::string_view source) {
  try {
    CategorifyOptions options;
    const auto& o = j.at("options");
    options.min_frequency = o.at("min_frequency").get<std::int64_t>();
    options.max_size = o.at("max_size").get<std::int64_t>();
    options.num_buckets = o.at("num_buckets").get<std::int64_t>();
    const auto on_oov = o.at("on_oov").get<std::string>();
    RB_CHECK(on_oov == "raise" || on_oov == "map_to_oov", ValueError,
             "on_oov '{}': expected 'raise' or 'map_to_oov'", on_oov);
    options.on_oov = on_oov == "raise" ? OnOov::kRaise : OnOov::kMapToOov;
    const auto hash = j.at("hash").get<std::string>();
    RB_CHECK(hash == "rbhash1", ValueError, "hash '{}': expected 'rbhash1'", hash);

    Categorify cat(j.at("column").get<std::string>(), options);
    const auto kind = j.at("kind").get<std::string>();
    const auto& keys = j.at("keys");
    const auto counts = j.at("counts").get<std::vector<std::int64_t>>();
    RB_CHECK(keys.is_array() && keys.size() == counts.size(), ValueError,
             "'keys' ({} values) and 'counts' ({} values) differ in length", keys.size(),
             counts.size());
    // Re-adding keys in saved order reproduces the ids; a larger
    // min_frequency would drop nothing since finalize() is skipped.
    if (kind == "string") {
      cat.set_kind(KeyKind::kString);
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto& key = keys[i].get_ref<const std::string&>();
        RB_CHECK(!key.empty(), ValueError, "key {} is empty (empty strings are null)", i);
        const std::uint64_t h = hash_key(std::string_view(key));
        RB_CHECK(cat.impl_->find(std::string_view(key), h) < 0, ValueError, "key {} ('{}') repeats",
                 i, key);
        cat.impl_->add(std::string_view(key), h, counts[i]);
      }
    } else if (kind == "int64") {
      cat.set_kind(KeyKind::kInt64);
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto key = keys[i].get<std::int64_t>();
        const std::uint64_t h = hash_key(key);
        RB_CHECK(cat.impl_->find(key, h) < 0, ValueError, "key {} ({}) repeats", i, key);
        cat.impl_->add(key, h, counts[i]);
      }
    } else {
      RB_CHECK(false, ValueError, "kind '{}': expected 'string' or 'int64'", kind);
    }
    cat.null_count_ = j.at("null_count").get<std::int64_t>();
    cat.fitted_ = true;
    return cat;
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(fmt::format("{}: Categorify state: {}", source, e.what()));
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: Categorify state: {}", source, e.what()));
  }
}

void Categorify::save(const std::filesystem::path& path) const {
  std::string text;
  try {
    text = to_json().dump(1);
  } catch (const nlohmann::json::type_error& e) {
    throw ValueError(fmt::format("Categorify '{}': cannot write {}: {} (keys must be UTF-8)",
                                 column_, path.string(), e.what()));
  }
  io::write_file_atomic(path, text);
}

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  RB_CHECK(in, Error, "{}: cannot open for reading", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

nlohmann::json parse_json_file(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw ValueError(
        fmt::format("{}: invalid JSON at byte {}: {}", path.string(), e.byte, e.what()));
  }
}

}  // namespace

Categorify Categorify::load(const std::filesystem::path& path) {
  return from_json(parse_json_file(path), path.string());
}

// ---------------------------------------------------------------------------
// List columns

ListIds transform_list(const Categorify& categorify, const StringListKeys& keys) {
  RB_CHECK(!keys.offsets.empty() && keys.offsets.front() == 0 &&
               keys.offsets.back() == static_cast<std::int64_t>(keys.values.size()),
           ShapeError,
           "transform_list '{}': offsets must start at 0 and end at the {} values (got {} offsets)",
           categorify.column(), keys.values.size(), keys.offsets.size());
  ListIds out;
  out.values = categorify.transform(keys.values);
  out.offsets =
      Tensor::from<std::int64_t>({static_cast<std::int64_t>(keys.offsets.size())}, keys.offsets);
  return out;
}

// ---------------------------------------------------------------------------
// TargetEncoding

std::vector<std::uint8_t> assign_folds(std::int64_t rows, int kfold, std::uint64_t seed) {
  RB_CHECK(kfold >= 1 && kfold <= 255, ValueError, "assign_folds: kfold {} must be in [1, 255]",
           kfold);
  std::vector<std::uint8_t> folds(static_cast<std::size_t>(rows));
  const std::uint64_t base = mix64(seed);
  for (std::int64_t i = 0; i < rows; ++i) {
    folds[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(
        mix64(base + static_cast<std::uint64_t>(i)) % static_cast<std::uint64_t>(kfold));
  }
  return folds;
}

TargetEncoding::TargetEncoding(std::string column, std::string target,
                               TargetEncodingOptions options)
    : column_(std::move(column)), target_(std::move(target)), options_(options) {
  RB_CHECK(options_.kfold >= 1 && options_.kfold <= 255, ValueError,
           "TargetEncoding '{}': kfold {} must be in [1, 255]", column_, options_.kfold);
  RB_CHECK(options_.p_smooth >= 0, ValueError, "TargetEncoding '{}': p_smooth {} must be >= 0",
           column_, options_.p_smooth);
}

double TargetEncoding::smoothed(double sum, double count) const {
  const double denominator = count + options_.p_smooth;
  if (denominator <= 0) return global_mean_;  // p_smooth = 0 and an unseen category
  return (sum + options_.p_smooth * global_mean_) / denominator;
}

double TargetEncoding::normalized(double x) const {
  if (!options_.normalize) return x;
  return norm_std_ > 0 ? (x - norm_mean_) / norm_std_ : x - norm_mean_;
}

std::vector<double> TargetEncoding::fit_transform(std::span<const std::int32_t> ids,
                                                  std::int64_t cardinality,
                                                  std::span<const double> target) {
  RB_CHECK(ids.size() == target.size(), ShapeError,
           "TargetEncoding '{}': {} ids but {} target values", column_, ids.size(), target.size());
  RB_CHECK(!ids.empty(), ValueError, "TargetEncoding '{}': no train rows to fit on", column_);
  RB_CHECK(cardinality > 0, ValueError, "TargetEncoding '{}': cardinality {} must be > 0", column_,
           cardinality);
  const std::size_t n = ids.size();
  const auto card = static_cast<std::size_t>(cardinality);
  sums_.assign(card, 0.0);
  counts_.assign(card, 0);
  double total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t id = ids[i];
    RB_CHECK(id >= 0 && id < cardinality, ValueError,
             "TargetEncoding '{}': id {} (row {}) outside [0, {})", column_, id, i, cardinality);
    RB_CHECK(!std::isnan(target[i]), ValueError, "TargetEncoding '{}': target '{}' is NaN (row {})",
             column_, target_, i);
    sums_[static_cast<std::size_t>(id)] += target[i];
    counts_[static_cast<std::size_t>(id)] += 1;
    total += target[i];
  }
  global_mean_ = total / static_cast<double>(n);

  std::vector<double> out(n);
  if (options_.kfold >= 2) {
    const auto folds =
        assign_folds(static_cast<std::int64_t>(n), options_.kfold, options_.fold_seed);
    std::vector<double> fold_sums(card * static_cast<std::size_t>(options_.kfold), 0.0);
    std::vector<std::int64_t> fold_counts(fold_sums.size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = folds[i] * card + static_cast<std::size_t>(ids[i]);
      fold_sums[k] += target[i];
      fold_counts[k] += 1;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto id = static_cast<std::size_t>(ids[i]);
      const std::size_t k = folds[i] * card + id;
      out[i] =
          smoothed(sums_[id] - fold_sums[k], static_cast<double>(counts_[id] - fold_counts[k]));
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const auto id = static_cast<std::size_t>(ids[i]);
      out[i] = smoothed(sums_[id], static_cast<double>(counts_[id]));
    }
  }

  norm_mean_ = 0;
  norm_std_ = 1;
  if (options_.normalize) {
    double mean = 0;
    for (double x : out) mean += x;
    mean /= static_cast<double>(n);
    double squares = 0;
    for (double x : out) squares += (x - mean) * (x - mean);
    norm_mean_ = mean;
    norm_std_ = n > 1 ? std::sqrt(squares / static_cast<double>(n - 1)) : 0.0;
    for (double& x : out) x = normalized(x);
  }
  fitted_ = true;
  return out;
}

std::vector<double> TargetEncoding::transform(std::span<const std::int32_t> ids) const {
  RB_CHECK(fitted_, ValueError, "TargetEncoding '{}': transform() before fit", column_);
  std::vector<double> table(sums_.size());
  for (std::size_t c = 0; c < table.size(); ++c) {
    table[c] = normalized(smoothed(sums_[c], static_cast<double>(counts_[c])));
  }
  const double unseen = normalized(global_mean_);
  std::vector<double> out(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto id = static_cast<std::size_t>(ids[i]);
    out[i] = ids[i] >= 0 && id < table.size() ? table[id] : unseen;
  }
  return out;
}

nlohmann::json TargetEncoding::to_json() const {
  RB_CHECK(fitted_, ValueError, "TargetEncoding '{}': to_json() before fit", column_);
  return {{"column", column_},
          {"target", target_},
          {"output", output_name()},
          {"options",
           {{"kfold", options_.kfold},
            {"p_smooth", options_.p_smooth},
            {"fold_seed", options_.fold_seed},
            {"normalize", options_.normalize}}},
          {"global_mean", global_mean_},
          {"normalize_mean", norm_mean_},
          {"normalize_std", norm_std_},
          {"sums", sums_},
          {"counts", counts_}};
}

static TargetEncodingOptions te_options_from_json(const nlohmann::json& o) {
  TargetEncodingOptions options;
  options.kfold = o.at("kfold").get<int>();
  options.p_smooth = o.at("p_smooth").get<double>();
  options.fold_seed = o.at("fold_seed").get<std::uint64_t>();
  options.normalize = o.at("normalize").get<bool>();
  return options;
}

TargetEncoding TargetEncoding::from_json(const nlohmann::json& j, std::string_view source) {
  try {
    TargetEncoding te(j.at("column").get<std::string>(), j.at("target").get<std::string>(),
                      te_options_from_json(j.at("options")));
    te.global_mean_ = j.at("global_mean").get<double>();
    te.norm_mean_ = j.at("normalize_mean").get<double>();
    te.norm_std_ = j.at("normalize_std").get<double>();
    te.sums_ = j.at("sums").get<std::vector<double>>();
    te.counts_ = j.at("counts").get<std::vector<std::int64_t>>();
    RB_CHECK(te.sums_.size() == te.counts_.size(), ValueError,
             "'sums' ({} values) and 'counts' ({} values) differ in length", te.sums_.size(),
             te.counts_.size());
    te.fitted_ = true;
    return te;
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(fmt::format("{}: TargetEncoding state: {}", source, e.what()));
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: TargetEncoding state: {}", source, e.what()));
  }
}

// ---------------------------------------------------------------------------
// Raw columns

RawColumn RawColumn::of_ints(std::vector<std::int64_t> values) {
  RawColumn c;
  c.kind = RawKind::kInt64;
  c.ints = std::move(values);
  return c;
}

RawColumn RawColumn::of_floats(std::vector<double> values) {
  RawColumn c;
  c.kind = RawKind::kFloat64;
  c.floats = std::move(values);
  return c;
}

RawColumn RawColumn::of_strings(std::vector<std::string_view> values,
                                std::shared_ptr<const void> storage) {
  RawColumn c;
  c.kind = RawKind::kString;
  c.strings = std::move(values);
  c.storage = std::move(storage);
  return c;
}

RawColumn RawColumn::of_string_lists(std::vector<std::string_view> elements,
                                     std::vector<std::int64_t> offsets,
                                     std::shared_ptr<const void> storage) {
  RB_CHECK(!offsets.empty() && offsets.front() == 0 &&
               offsets.back() == static_cast<std::int64_t>(elements.size()) &&
               std::is_sorted(offsets.begin(), offsets.end()),
           ShapeError,
           "RawColumn: list offsets must rise from 0 to the {} elements (got {} offsets)",
           elements.size(), offsets.size());
  RawColumn c;
  c.kind = RawKind::kStringList;
  c.strings = std::move(elements);
  c.list_offsets = std::move(offsets);
  c.storage = std::move(storage);
  return c;
}

std::int64_t RawColumn::entries() const {
  switch (kind) {
    case RawKind::kInt64: return static_cast<std::int64_t>(ints.size());
    case RawKind::kFloat64: return static_cast<std::int64_t>(floats.size());
    case RawKind::kString: return static_cast<std::int64_t>(strings.size());
    case RawKind::kStringList: return static_cast<std::int64_t>(list_offsets.size()) - 1;
  }
  return 0;
}

std::int64_t RawColumn::rows() const {
  return is_indexed ? static_cast<std::int64_t>(index.size()) : entries();
}

RawColumn RawColumn::indexed(std::vector<std::int32_t> rows_index) const {
  RB_CHECK(!is_indexed, ValueError, "RawColumn::indexed: the column is already indexed");
  const std::int64_t n = entries();
  for (std::size_t r = 0; r < rows_index.size(); ++r) {
    RB_CHECK(rows_index[r] >= 0 && rows_index[r] < n, ValueError,
             "RawColumn::indexed: row {} picks entry {}, outside [0, {})", r, rows_index[r], n);
  }
  RawColumn c = *this;
  c.index = std::move(rows_index);
  c.is_indexed = true;
  return c;
}

RawColumn RawColumn::take(std::span<const std::int64_t> rows_taken) const {
  const std::int64_t n = rows();
  for (std::int64_t r : rows_taken) {
    RB_CHECK(r >= 0 && r < n, ValueError, "RawColumn::take: row {} outside [0, {})", r, n);
  }
  RawColumn c;
  c.kind = kind;
  c.storage = storage;
  if (is_indexed) {
    c.is_indexed = true;
    // Share the entries, pick the rows' indices.
    c.ints = ints;
    c.is_null = is_null;
    c.floats = floats;
    c.strings = strings;
    c.list_offsets = list_offsets;
    c.index.reserve(rows_taken.size());
    for (std::int64_t r : rows_taken) c.index.push_back(index[static_cast<std::size_t>(r)]);
    return c;
  }
  const auto pick = [&](const auto& from, auto& to) {
    to.reserve(rows_taken.size());
    for (std::int64_t r : rows_taken) to.push_back(from[static_cast<std::size_t>(r)]);
  };
  switch (kind) {
    case RawKind::kInt64:
      pick(ints, c.ints);
      if (!is_null.empty()) pick(is_null, c.is_null);
      break;
    case RawKind::kFloat64: pick(floats, c.floats); break;
    case RawKind::kString: pick(strings, c.strings); break;
    case RawKind::kStringList:
      c.list_offsets.reserve(rows_taken.size() + 1);
      c.list_offsets.push_back(0);
      for (std::int64_t r : rows_taken) {
        const auto b = list_offsets[static_cast<std::size_t>(r)];
        const auto e = list_offsets[static_cast<std::size_t>(r) + 1];
        c.strings.insert(c.strings.end(), strings.begin() + b, strings.begin() + e);
        c.list_offsets.push_back(static_cast<std::int64_t>(c.strings.size()));
      }
      break;
  }
  return c;
}

std::int64_t num_rows(const RawTable& table) {
  std::int64_t rows = -1;
  std::string first;
  for (const auto& [name, column] : table) {
    const std::int64_t n = column.rows();
    if (rows < 0) {
      rows = n;
      first = name;
    }
    RB_CHECK(n == rows, ShapeError, "raw table: column '{}' has {} rows, '{}' has {}", name, n,
             first, rows);
  }
  return rows < 0 ? 0 : rows;
}

RawTable take(const RawTable& table, std::span<const std::int64_t> rows) {
  num_rows(table);
  RawTable out;
  for (const auto& [name, column] : table) out.emplace(name, column.take(rows));
  return out;
}

// ---------------------------------------------------------------------------
// Workflow

namespace {

enum class StepKind : std::uint8_t { kCategorify, kTargetEncoding, kTarget };

struct Step {
  StepKind kind = StepKind::kCategorify;
  std::vector<std::string> columns;
  CategorifyOptions categorify;
  TargetEncodingOptions te;
  std::string target;
  DType dtype = DType::kFloat32;
  TagSet tags;
};

std::string_view step_name(StepKind kind) {
  switch (kind) {
    case StepKind::kCategorify: return "categorify";
    case StepKind::kTargetEncoding: return "target_encoding";
    case StepKind::kTarget: return "target";
  }
  return "?";
}

std::string available(const RawTable& raw) {
  std::string names;
  for (const auto& [name, column] : raw) names += (names.empty() ? "" : ", ") + name;
  return names;
}

const RawColumn& raw_column(const RawTable& raw, const std::string& name, std::string_view step) {
  const auto it = raw.find(name);
  RB_CHECK(it != raw.end(), ValueError, "workflow {}: no raw column '{}' (available: {})", step,
           name, available(raw));
  return it->second;
}

// How many rows pick each entry (1 each without an index).
std::vector<std::int64_t> entry_counts(const RawColumn& c) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(c.entries()), c.is_indexed ? 0 : 1);
  if (c.is_indexed) {
    for (std::int32_t e : c.index) ++counts[static_cast<std::size_t>(e)];
  }
  return counts;
}

void fit_categorify(Categorify& cat, const RawColumn& c) {
  const auto counts = entry_counts(c);
  switch (c.kind) {
    case RawKind::kInt64: cat.update_counts(c.ints, counts, c.is_null); break;
    case RawKind::kString: cat.update_counts(c.strings, counts); break;
    case RawKind::kStringList: {
      std::vector<std::int64_t> element_counts(c.strings.size());
      for (std::size_t e = 0; e + 1 < c.list_offsets.size(); ++e) {
        for (auto k = c.list_offsets[e]; k < c.list_offsets[e + 1]; ++k) {
          element_counts[static_cast<std::size_t>(k)] = counts[e];
        }
      }
      cat.update_counts(c.strings, element_counts);
      break;
    }
    case RawKind::kFloat64:
      RB_CHECK(
          false, ValueError,
          "Categorify '{}': the raw column holds floats; expected int64, string or string list",
          cat.column());
  }
  cat.finalize();
}

// Entry ids -> row ids (gathered through the index when there is one).
Tensor gather_ids(std::vector<std::int32_t> entry_ids, const RawColumn& c) {
  if (!c.is_indexed) {
    return Tensor::from<std::int32_t>({static_cast<std::int64_t>(entry_ids.size())}, entry_ids);
  }
  Tensor out = Tensor::empty({static_cast<std::int64_t>(c.index.size())}, DType::kInt32);
  std::int32_t* o = out.data<std::int32_t>();
  for (std::size_t r = 0; r < c.index.size(); ++r) {
    o[r] = entry_ids[static_cast<std::size_t>(c.index[r])];
  }
  return out;
}

// Ids of the entries of an indexed or list column, looked up entry by
// entry: only the entries some row picks, so that on_oov = raise fails
// naming the row that holds the unknown value, never an unused table entry
// (a movie nobody rated) or a list element's position.
std::vector<std::int32_t> entry_ids_by_row(const Categorify& cat, const RawColumn& c) {
  const bool lists = c.kind == RawKind::kStringList;
  std::vector<std::int32_t> ids(lists ? c.strings.size() : static_cast<std::size_t>(c.entries()),
                                kPaddingId);
  std::vector<std::uint8_t> done(static_cast<std::size_t>(c.entries()), 0);
  const auto id_of = [&](std::size_t k, std::int64_t row) {
    std::int32_t id = 0;
    std::string shown;
    if (c.kind == RawKind::kInt64) {
      const bool null = !c.is_null.empty() && c.is_null[k];
      id = null ? kNullId : cat.lookup(c.ints[k]);
      shown = std::to_string(c.ints[k]);
    } else {
      id = cat.lookup(c.strings[k]);
      shown = fmt::format("'{}'", c.strings[k]);
    }
    if (id >= 0) return id;
    RB_CHECK(cat.options().on_oov == OnOov::kMapToOov, ValueError,
             "Categorify '{}': value {} (row {}) is not in the vocabulary of {} keys "
             "(on_oov = raise)",
             cat.column(), shown, row, cat.vocabulary_size());
    return kOovId;
  };
  const auto rows = static_cast<std::size_t>(c.rows());
  for (std::size_t r = 0; r < rows; ++r) {
    const auto e = c.is_indexed ? static_cast<std::size_t>(c.index[r]) : r;
    if (done[e]) continue;
    done[e] = 1;
    if (!lists) {
      ids[e] = id_of(e, static_cast<std::int64_t>(r));
      continue;
    }
    for (auto k = c.list_offsets[e]; k < c.list_offsets[e + 1]; ++k) {
      ids[static_cast<std::size_t>(k)] =
          id_of(static_cast<std::size_t>(k), static_cast<std::int64_t>(r));
    }
  }
  return ids;
}

Column transform_categorify(const Categorify& cat, const RawColumn& c) {
  RB_CHECK(c.kind != RawKind::kFloat64, ValueError,
           "Categorify '{}': the raw column holds floats; expected int64, string or string list",
           cat.column());
  std::vector<std::int32_t> ids;
  if (c.is_indexed || c.kind == RawKind::kStringList) {
    ids = entry_ids_by_row(cat, c);
  } else {
    ids.resize(static_cast<std::size_t>(c.entries()));
    if (c.kind == RawKind::kInt64) {
      cat.transform(c.ints, ids, c.is_null);
    } else {
      cat.transform(c.strings, ids);
    }
  }
  if (c.kind != RawKind::kStringList) return Column{gather_ids(std::move(ids), c), Tensor()};

  // A list column: gather each row's list.
  const std::vector<std::int64_t>& lo = c.list_offsets;
  const std::int64_t rows = c.rows();
  Tensor offsets = Tensor::empty({rows + 1}, DType::kInt64);
  std::int64_t* off = offsets.data<std::int64_t>();
  off[0] = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto e =
        static_cast<std::size_t>(c.is_indexed ? c.index[static_cast<std::size_t>(r)] : r);
    off[r + 1] = off[r] + (lo[e + 1] - lo[e]);
  }
  Tensor values = Tensor::empty({off[rows]}, DType::kInt32);
  std::int32_t* v = values.data<std::int32_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto e =
        static_cast<std::size_t>(c.is_indexed ? c.index[static_cast<std::size_t>(r)] : r);
    std::copy(ids.begin() + lo[e], ids.begin() + lo[e + 1], v + off[r]);
  }
  return Column{values, offsets};
}

// A numeric raw column per row, as doubles.
std::vector<double> row_doubles(const RawColumn& c, const std::string& name) {
  std::vector<double> entries;
  if (c.kind == RawKind::kFloat64) {
    entries = c.floats;
  } else {
    RB_CHECK(c.kind == RawKind::kInt64, ValueError,
             "raw column '{}' holds strings; expected int64 or float64 values", name);
    entries.assign(c.ints.begin(), c.ints.end());
    for (std::size_t i = 0; i < c.is_null.size(); ++i) {
      if (c.is_null[i]) entries[i] = std::numeric_limits<double>::quiet_NaN();
    }
  }
  if (!c.is_indexed) return entries;
  std::vector<double> rows(c.index.size());
  for (std::size_t r = 0; r < rows.size(); ++r)
    rows[r] = entries[static_cast<std::size_t>(c.index[r])];
  return rows;
}

Tensor to_float32(const std::vector<double>& values) {
  Tensor t = Tensor::empty({static_cast<std::int64_t>(values.size())}, DType::kFloat32);
  float* p = t.data<float>();
  for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<float>(values[i]);
  return t;
}

Tensor target_tensor(const std::vector<double>& values, DType dtype, const std::string& name) {
  if (dtype == DType::kFloat32) return to_float32(values);
  Tensor t = Tensor::empty({static_cast<std::int64_t>(values.size())}, DType::kInt32);
  std::int32_t* p = t.data<std::int32_t>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    RB_CHECK(v == std::floor(v) && std::abs(v) < 2147483648.0, ValueError,
             "target '{}': row {} holds {}, expected an int32 value", name, i, v);
    p[i] = static_cast<std::int32_t>(v);
  }
  return t;
}

nlohmann::json tags_to_json(const TagSet& tags) { return tags.names(); }

TagSet tags_from_json(const nlohmann::json& j) {
  std::vector<Tag> tags;
  for (const auto& name : j) tags.push_back(Tag::parse(name.get<std::string>()));
  return TagSet(tags);
}

// Column names become file names in the saved state.
void check_file_name(const std::string& column) {
  RB_CHECK(!column.empty() && column.find('/') == std::string::npos && column[0] != '.', ValueError,
           "workflow: column name '{}' cannot be a file name (empty, '/' or leading '.')", column);
}

}  // namespace

struct Workflow::Impl {
  std::vector<Step> steps;
  std::map<std::string, Categorify, std::less<>> categorify;
  std::map<std::string, ValueCount, std::less<>> list_counts;
  std::map<std::string, TargetEncoding, std::less<>> te;  // by output name
  bool fitted = false;

  void add(Step step) {
    for (const auto& c : step.columns) check_file_name(c);
    steps.push_back(std::move(step));
    fitted = false;
  }

  Dataset run(const RawTable& raw, Impl* fitting) const;
  Schema schema() const;
};

Workflow::Workflow() : impl_(std::make_unique<Impl>()) {}
Workflow::~Workflow() = default;
Workflow::Workflow(const Workflow& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Workflow& Workflow::operator=(const Workflow& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
Workflow::Workflow(Workflow&&) noexcept = default;
Workflow& Workflow::operator=(Workflow&&) noexcept = default;

Workflow& Workflow::categorify(std::vector<std::string> columns, CategorifyOptions options,
                               TagSet tags) {
  Step step;
  step.kind = StepKind::kCategorify;
  step.columns = std::move(columns);
  step.categorify = options;
  step.tags = tags.with(Tags::CATEGORICAL);
  impl_->add(std::move(step));
  return *this;
}

Workflow& Workflow::target_encoding(std::vector<std::string> columns, std::string target,
                                    TargetEncodingOptions options, TagSet tags) {
  Step step;
  step.kind = StepKind::kTargetEncoding;
  step.columns = std::move(columns);
  step.target = std::move(target);
  step.te = options;
  step.tags = tags.with(Tags::CONTINUOUS);
  impl_->add(std::move(step));
  return *this;
}

Workflow& Workflow::target(std::string column, DType dtype, TagSet tags) {
  RB_CHECK(dtype == DType::kFloat32 || dtype == DType::kInt32, ValueError,
           "workflow target '{}': dtype {} must be float32 or int32", column, dtype_name(dtype));
  Step step;
  step.kind = StepKind::kTarget;
  step.columns = {std::move(column)};
  step.dtype = dtype;
  step.tags = tags.with(Tags::TARGET);
  impl_->add(std::move(step));
  return *this;
}

// Transforms `raw` with the fitted state; when `fitting` is this same
// Impl, fits each step first (so train is transformed as it is fitted).
Dataset Workflow::Impl::run(const RawTable& raw, Impl* fitting) const {
  const bool fit = fitting != nullptr;
  RB_CHECK(fit || fitted, ValueError, "workflow: transform() before fit_transform()");
  if (fit) {
    fitting->categorify.clear();
    fitting->list_counts.clear();
    fitting->te.clear();
  }
  const std::int64_t rows = num_rows(raw);
  std::map<std::string, Column> out;
  std::vector<std::string> skipped;  // targets absent from `raw`
  for (const Step& step : steps) {
    for (const std::string& name : step.columns) {
      switch (step.kind) {
        case StepKind::kCategorify: {
          const RawColumn& c = raw_column(raw, name, "categorify");
          if (fit) {
            Categorify cat(name, step.categorify);
            fit_categorify(cat, c);
            fitting->categorify.insert_or_assign(name, std::move(cat));
          }
          Column col = transform_categorify(categorify.at(name), c);
          if (fit && col.is_list()) {
            const std::int64_t* o = col.offsets.data<std::int64_t>();
            ValueCount vc{std::numeric_limits<std::int64_t>::max(), 0};
            for (std::int64_t r = 0; r < rows; ++r) {
              vc.min = std::min(vc.min, o[r + 1] - o[r]);
              vc.max = std::max(vc.max, o[r + 1] - o[r]);
            }
            if (rows == 0) vc.min = 0;
            fitting->list_counts.insert_or_assign(name, vc);
          }
          out.insert_or_assign(name, std::move(col));
          break;
        }
        case StepKind::kTargetEncoding: {
          const auto ids_it = out.find(name);
          RB_CHECK(ids_it != out.end() && !ids_it->second.is_list(), ValueError,
                   "workflow target_encoding '{}': the column must be categorified (not a list) "
                   "by an earlier step",
                   name);
          const Tensor& ids = ids_it->second.values;
          const std::span<const std::int32_t> id_span(ids.data<std::int32_t>(),
                                                      static_cast<std::size_t>(ids.numel()));
          const std::string output = "TE_" + name + "_" + step.target;
          std::vector<double> encoded;
          if (fit) {
            const auto y =
                row_doubles(raw_column(raw, step.target, "target_encoding"), step.target);
            TargetEncoding encoding(name, step.target, step.te);
            encoded = encoding.fit_transform(id_span, categorify.at(name).cardinality(), y);
            fitting->te.insert_or_assign(output, std::move(encoding));
          } else {
            encoded = te.at(output).transform(id_span);
          }
          out.insert_or_assign(output, Column{to_float32(encoded), Tensor()});
          break;
        }
        case StepKind::kTarget: {
          if (!fit && !raw.contains(name)) {
            skipped.push_back(name);
            break;
          }
          const auto values = row_doubles(raw_column(raw, name, "target"), name);
          out.insert_or_assign(name, Column{target_tensor(values, step.dtype, name), Tensor()});
          break;
        }
      }
    }
  }
  if (fit) fitting->fitted = true;
  return Dataset(schema().without(skipped), std::move(out));
}

Schema Workflow::Impl::schema() const {
  std::vector<ColumnSchema> columns;
  for (const Step& step : steps) {
    for (const std::string& name : step.columns) {
      switch (step.kind) {
        case StepKind::kCategorify: {
          ColumnSchema c(name, DType::kInt32, step.tags);
          nlohmann::json props = {{"freq_threshold", step.categorify.min_frequency},
                                  {"max_size", step.categorify.max_size},
                                  {"num_buckets", step.categorify.num_buckets},
                                  {"start_index", 0},
                                  {"cat_path", "etl/categorify/" + name + ".json"}};
          if (fitted) {
            c = c.with_domain(categorify.at(name).domain());
            props["vocabulary_size"] = categorify.at(name).vocabulary_size();
          }
          const auto lc = list_counts.find(name);
          if (lc != list_counts.end()) c = c.with_list(true, true, lc->second);
          columns.push_back(c.with_properties(props));
          break;
        }
        case StepKind::kTargetEncoding:
          columns.push_back(
              ColumnSchema("TE_" + name + "_" + step.target, DType::kFloat32, step.tags));
          break;
        case StepKind::kTarget: columns.push_back(ColumnSchema(name, step.dtype, step.tags)); break;
      }
    }
  }
  return Schema(std::move(columns));
}

Dataset Workflow::fit_transform(const RawTable& train) { return impl_->run(train, impl_.get()); }

Dataset Workflow::transform(const RawTable& raw) const { return impl_->run(raw, nullptr); }

bool Workflow::fitted() const { return impl_->fitted; }
Schema Workflow::output_schema() const { return impl_->schema(); }

const Categorify& Workflow::categorify_of(std::string_view column) const {
  const auto it = impl_->categorify.find(column);
  if (it != impl_->categorify.end()) return it->second;
  std::string known;
  for (const auto& [name, cat] : impl_->categorify) known += (known.empty() ? "" : ", ") + name;
  throw ValueError(fmt::format("workflow: no fitted Categorify for '{}' (fitted: {})", column,
                               known.empty() ? "none" : known));
}

const TargetEncoding& Workflow::target_encoding_of(std::string_view column) const {
  std::string known;
  for (const auto& [output, te] : impl_->te) {
    if (te.column() == column) return te;
    known += (known.empty() ? "" : ", ") + te.column();
  }
  throw ValueError(fmt::format("workflow: no fitted TargetEncoding for '{}' (fitted: {})", column,
                               known.empty() ? "none" : known));
}

void Workflow::save(const std::filesystem::path& dir) const {
  RB_CHECK(impl_->fitted, ValueError, "workflow: save() before fit_transform()");
  io::StagedDirectory staged(dir);
  std::filesystem::create_directories(staged.path() / "categorify");
  nlohmann::json steps = nlohmann::json::array();
  for (const Step& step : impl_->steps) {
    nlohmann::json j = {
        {"op", step_name(step.kind)}, {"columns", step.columns}, {"tags", tags_to_json(step.tags)}};
    switch (step.kind) {
      case StepKind::kCategorify:
        for (const auto& name : step.columns) {
          impl_->categorify.at(name).save(staged.path() / "categorify" / (name + ".json"));
        }
        if (impl_->list_counts.size() > 0) {
          nlohmann::json lists = nlohmann::json::object();
          for (const auto& name : step.columns) {
            const auto it = impl_->list_counts.find(name);
            if (it != impl_->list_counts.end()) lists[name] = {it->second.min, it->second.max};
          }
          j["list_value_counts"] = lists;
        }
        break;
      case StepKind::kTargetEncoding: {
        j["target"] = step.target;
        nlohmann::json state = nlohmann::json::object();
        for (const auto& name : step.columns) {
          state[name] = impl_->te.at("TE_" + name + "_" + step.target).to_json();
        }
        j["state"] = state;
        break;
      }
      case StepKind::kTarget: j["dtype"] = dtype_name(step.dtype); break;
    }
    steps.push_back(std::move(j));
  }
  const nlohmann::json doc = {{"format", "recblocks-etl"},
                              {"version", 1},
                              {"steps", steps},
                              {"output_schema", output_schema().to_json()}};
  io::write_file_atomic(staged.path() / "workflow.json", doc.dump(1) + "\n");
  staged.commit();
}

Workflow Workflow::load(const std::filesystem::path& dir) {
  const auto path = dir / "workflow.json";
  RB_CHECK(std::filesystem::exists(path), Error,
           "{}: no such file (an ETL state directory holds "
           "workflow.json, written by Workflow::save)",
           path.string());
  const nlohmann::json doc = parse_json_file(path);
  Workflow wf;
  Impl& impl = *wf.impl_;
  try {
    RB_CHECK(doc.at("format").get<std::string>() == "recblocks-etl", ValueError,
             "format '{}': expected 'recblocks-etl'", doc.at("format").get<std::string>());
    RB_CHECK(doc.at("version").get<int>() == 1, ValueError, "version {}: expected 1",
             doc.at("version").get<int>());
    for (const auto& j : doc.at("steps")) {
      Step step;
      const auto op = j.at("op").get<std::string>();
      step.columns = j.at("columns").get<std::vector<std::string>>();
      for (const auto& c : step.columns) check_file_name(c);
      step.tags = tags_from_json(j.at("tags"));
      if (op == "categorify") {
        step.kind = StepKind::kCategorify;
        for (const auto& name : step.columns) {
          Categorify cat = Categorify::load(dir / "categorify" / (name + ".json"));
          RB_CHECK(cat.column() == name, ValueError, "categorify/{}.json holds column '{}'", name,
                   cat.column());
          step.categorify = cat.options();
          impl.categorify.insert_or_assign(name, std::move(cat));
        }
        if (j.contains("list_value_counts")) {
          for (const auto& [name, vc] : j.at("list_value_counts").items()) {
            impl.list_counts.insert_or_assign(
                name, ValueCount{vc.at(0).get<std::int64_t>(), vc.at(1).get<std::int64_t>()});
          }
        }
      } else if (op == "target_encoding") {
        step.kind = StepKind::kTargetEncoding;
        step.target = j.at("target").get<std::string>();
        for (const auto& name : step.columns) {
          TargetEncoding te = TargetEncoding::from_json(j.at("state").at(name), path.string());
          step.te = te.options();
          impl.te.insert_or_assign(te.output_name(), std::move(te));
        }
      } else if (op == "target") {
        step.kind = StepKind::kTarget;
        const auto dtype = j.at("dtype").get<std::string>();
        RB_CHECK(dtype == "float32" || dtype == "int32", ValueError,
                 "target dtype '{}': expected float32 or int32", dtype);
        step.dtype = dtype == "float32" ? DType::kFloat32 : DType::kInt32;
      } else {
        RB_CHECK(false, ValueError, "step op '{}': expected categorify, target_encoding or target",
                 op);
      }
      impl.steps.push_back(std::move(step));
    }
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(fmt::format("{}: {}", path.string(), e.what()));
  } catch (const ValueError& e) {
    const std::string what = e.what();
    if (what.starts_with(dir.string())) throw;  // already names a file of the state
    throw ValueError(fmt::format("{}: {}", path.string(), what));
  }
  impl.fitted = true;
  return wf;
}

}  // namespace recblocks::etl
