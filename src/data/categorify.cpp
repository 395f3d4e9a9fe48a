// Categorify (raw keys -> contiguous int32 ids), its saved form and list
// columns (etl.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "data/etl_internal.h"
#include "recblocks/core/error.h"
#include "recblocks/core/rng.h"
#include "recblocks/core/threads.h"
#include "recblocks/data/etl.h"
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

Categorify Categorify::load(const std::filesystem::path& path) {
  return from_json(detail::parse_json_file(path), path.string());
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

}  // namespace recblocks::etl
