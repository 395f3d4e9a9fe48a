// RawColumn and RawTable (etl.h): parsed raw data before the workflow.
#include <algorithm>

#include "recblocks/core/error.h"
#include "recblocks/data/etl.h"

namespace recblocks::etl {

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

}  // namespace recblocks::etl
