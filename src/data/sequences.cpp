#include "recblocks/data/sequences.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "recblocks/core/error.h"

namespace recblocks::datasets {
namespace {

// A scalar integer column as int64, named in errors by `who`.
std::vector<std::int64_t> ints_of(const Dataset& data, const std::string& name, const char* who) {
  RB_CHECK(data.schema().contains(name), ValueError,
           "{}: the data has no column '{}' (columns: {})", who, name,
           fmt::join(data.schema().column_names(), ", "));
  const Column& c = data.column(name);
  RB_CHECK(!c.is_list() && c.values.rank() == 1 && is_integer(c.values.dtype()), ValueError,
           "{}: column '{}' is {} {}, expected a scalar int32 or int64 column", who, name,
           dtype_name(c.values.dtype()), c.values.shape());
  std::vector<std::int64_t> out(static_cast<std::size_t>(c.values.numel()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = c.values.dtype() == DType::kInt64 ? c.values.data<std::int64_t>()[i]
                                               : c.values.data<std::int32_t>()[i];
  }
  return out;
}

// Rows of (user, time, row) ascending: each user's rows in time order.
std::vector<std::int64_t> time_order(const std::vector<std::int64_t>& users,
                                     const std::vector<std::int64_t>& times) {
  std::vector<std::int64_t> order(users.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
    if (users[ua] != users[ub]) return users[ua] < users[ub];
    if (times[ua] != times[ub]) return times[ua] < times[ub];
    return a < b;
  });
  return order;
}

// The sequence column's schema: the item column's domain, list tags.
ColumnSchema sequence_schema(const ColumnSchema& item, std::string name, TagSet tags) {
  ColumnSchema out(std::move(name), DType::kInt32,
                   tags.with(Tags::CATEGORICAL).with(Tags::SEQUENCE));
  if (item.domain()) {
    Domain d = *item.domain();
    if (d.name.empty()) d.name = item.name();
    out = out.with_domain(d);
  }
  return out;
}

std::int32_t narrow_id(std::int64_t id, const std::string& column) {
  RB_CHECK(id >= 0 && id <= std::numeric_limits<std::int32_t>::max(), ValueError,
           "sequences: column '{}' holds id {}, expected an id in [0, 2^31) (categorify it first)",
           column, id);
  return static_cast<std::int32_t>(id);
}

}  // namespace

Dataset add_history(const Dataset& data, const HistoryOptions& options, const Dataset* context) {
  RB_CHECK(options.max_length >= 1, ValueError, "add_history: max_length is {}, expected >= 1",
           options.max_length);
  const std::string name = options.name.empty() ? options.item_column + "_history" : options.name;
  RB_CHECK(!data.schema().contains(name), ValueError,
           "add_history: the data already has a column '{}'", name);
  // Context rows first, then the data's own.
  std::vector<std::int64_t> users, times, items;
  std::int64_t context_rows = 0;
  if (context != nullptr) {
    users = ints_of(*context, options.user_column, "add_history (context)");
    times = ints_of(*context, options.time_column, "add_history (context)");
    items = ints_of(*context, options.item_column, "add_history (context)");
    context_rows = static_cast<std::int64_t>(users.size());
  }
  for (auto [column, out] :
       {std::pair{&options.user_column, &users}, std::pair{&options.time_column, &times},
        std::pair{&options.item_column, &items}}) {
    const auto own = ints_of(data, *column, "add_history");
    out->insert(out->end(), own.begin(), own.end());
  }
  const std::vector<std::int64_t> order = time_order(users, times);
  const std::int64_t rows = data.num_rows();
  // Each data row's history is order[begin, end) of its user's rows.
  std::vector<std::int64_t> begin(static_cast<std::size_t>(rows)),
      end(static_cast<std::size_t>(rows));
  for (std::size_t g = 0; g < order.size();) {
    std::size_t e = g;
    const std::int64_t user = users[static_cast<std::size_t>(order[g])];
    while (e < order.size() && users[static_cast<std::size_t>(order[e])] == user) ++e;
    for (std::size_t k = g; k < e; ++k) {
      const std::int64_t r = order[k] - context_rows;
      if (r < 0) continue;
      end[static_cast<std::size_t>(r)] = static_cast<std::int64_t>(k);
      begin[static_cast<std::size_t>(r)] =
          std::max(static_cast<std::int64_t>(g), static_cast<std::int64_t>(k) - options.max_length);
    }
    g = e;
  }
  Tensor offsets = Tensor::empty({rows + 1}, DType::kInt64);
  auto* off = offsets.data<std::int64_t>();
  off[0] = 0;
  for (std::int64_t r = 0; r < rows; ++r) off[r + 1] = off[r] + end[r] - begin[r];
  Tensor values = Tensor::empty({off[rows]}, DType::kInt32);
  auto* v = values.data<std::int32_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t k = begin[r]; k < end[r]; ++k) {
      *v++ = narrow_id(items[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])],
                       options.item_column);
    }
  }
  std::vector<ColumnSchema> columns(data.schema().begin(), data.schema().end());
  columns.push_back(
      sequence_schema(data.schema().column(options.item_column), name, TagSet{Tags::USER})
          .with_list(true, true, ValueCount{0, options.max_length}));
  std::map<std::string, Column> out(data.columns().begin(), data.columns().end());
  out[name] = Column{std::move(values), std::move(offsets)};
  return Dataset(Schema(std::move(columns)), std::move(out));
}

Dataset advance_history(const Dataset& rows, const HistoryOptions& options) {
  RB_CHECK(options.max_length >= 1, ValueError, "advance_history: max_length is {}, expected >= 1",
           options.max_length);
  const std::string name = options.name.empty() ? options.item_column + "_history" : options.name;
  RB_CHECK(rows.schema().contains(name), ValueError,
           "advance_history: the data has no column '{}' (columns: {})", name,
           fmt::join(rows.schema().column_names(), ", "));
  const Column& history = rows.column(name);
  RB_CHECK(history.is_list() && history.values.dtype() == DType::kInt32, ValueError,
           "advance_history: column '{}' is not a ragged int32 list column", name);
  const auto items = ints_of(rows, options.item_column, "advance_history");
  const std::int64_t n = rows.num_rows();
  const auto* off = history.offsets.data<std::int64_t>();
  const auto* values = history.values.data<std::int32_t>();
  Tensor offsets = Tensor::empty({n + 1}, DType::kInt64);
  auto* o = offsets.data<std::int64_t>();
  o[0] = 0;
  for (std::int64_t r = 0; r < n; ++r)
    o[r + 1] = o[r] + std::min(off[r + 1] - off[r] + 1, options.max_length);
  Tensor out = Tensor::empty({o[n]}, DType::kInt32);
  auto* v = out.data<std::int32_t>();
  for (std::int64_t r = 0; r < n; ++r) {
    const std::int64_t keep = o[r + 1] - o[r] - 1;  // of the old history, the latest
    v = std::copy(values + off[r + 1] - keep, values + off[r + 1], v);
    *v++ = narrow_id(items[static_cast<std::size_t>(r)], options.item_column);
  }
  std::map<std::string, Column> columns(rows.columns().begin(), rows.columns().end());
  columns[name] = Column{std::move(out), std::move(offsets)};
  return Dataset(rows.schema(), std::move(columns));
}

Dataset group_by_user(const Dataset& data, const GroupByUserOptions& options) {
  RB_CHECK(options.max_length >= 0, ValueError, "group_by_user: max_length is {}, expected >= 0",
           options.max_length);
  RB_CHECK(!options.pad || options.max_length > 0, ValueError,
           "group_by_user: pad needs a max_length > 0");
  const auto users = ints_of(data, options.user_column, "group_by_user");
  const auto times = ints_of(data, options.time_column, "group_by_user");
  const auto items = ints_of(data, options.item_column, "group_by_user");
  const std::vector<std::int64_t> order = time_order(users, times);
  // Each user's rows: order[g, e).
  std::vector<std::pair<std::size_t, std::size_t>> groups;
  for (std::size_t g = 0; g < order.size();) {
    std::size_t e = g;
    while (e < order.size() &&
           users[static_cast<std::size_t>(order[e])] == users[static_cast<std::size_t>(order[g])]) {
      ++e;
    }
    groups.emplace_back(g, e);
    g = e;
  }
  const auto n = static_cast<std::int64_t>(groups.size());
  const std::int64_t cap = options.max_length;
  auto kept = [&](const std::pair<std::size_t, std::size_t>& grp) {
    const auto len = static_cast<std::int64_t>(grp.second - grp.first);
    return cap > 0 ? std::min(len, cap) : len;
  };
  Tensor user_values = Tensor::empty({n}, data.column(options.user_column).values.dtype());
  Tensor counts = Tensor::empty({n}, DType::kInt32);
  Tensor offsets = Tensor::empty({n + 1}, DType::kInt64);
  auto* off = offsets.data<std::int64_t>();
  off[0] = 0;
  for (std::int64_t u = 0; u < n; ++u) off[u + 1] = off[u] + (options.pad ? cap : kept(groups[u]));
  Tensor item_values =
      options.pad ? Tensor::zeros({n, cap}, DType::kInt32) : Tensor::empty({off[n]}, DType::kInt32);
  Tensor time_values =
      options.pad ? Tensor::zeros({n, cap}, DType::kInt64) : Tensor::empty({off[n]}, DType::kInt64);
  for (std::int64_t u = 0; u < n; ++u) {
    const auto [g, e] = groups[static_cast<std::size_t>(u)];
    const std::int64_t first_row = order[g];
    if (user_values.dtype() == DType::kInt64) {
      user_values.data<std::int64_t>()[u] = users[static_cast<std::size_t>(first_row)];
    } else {
      user_values.data<std::int32_t>()[u] =
          static_cast<std::int32_t>(users[static_cast<std::size_t>(first_row)]);
    }
    counts.data<std::int32_t>()[u] = static_cast<std::int32_t>(e - g);
    const std::size_t start =
        e - static_cast<std::size_t>(kept(groups[static_cast<std::size_t>(u)]));
    std::int64_t at = off[u];
    for (std::size_t k = start; k < e; ++k, ++at) {
      const auto r = static_cast<std::size_t>(order[k]);
      item_values.data<std::int32_t>()[at] = narrow_id(items[r], options.item_column);
      time_values.data<std::int64_t>()[at] = times[r];
    }
  }
  const ColumnSchema& item = data.schema().column(options.item_column);
  const std::string item_list = options.item_column + "_list";
  const std::string time_list = options.time_column + "_list";
  const std::string count = options.item_column + "_count";
  const std::optional<ValueCount> value_count =
      options.pad ? std::optional<ValueCount>(ValueCount{cap, cap})
                  : std::optional<ValueCount>(ValueCount{0, cap});
  Schema schema({data.schema().column(options.user_column),
                 sequence_schema(item, item_list, TagSet{Tags::ITEM})
                     .with_list(true, !options.pad, value_count),
                 ColumnSchema(time_list, DType::kInt64, TagSet{Tags::TIME})
                     .with_list(true, !options.pad, value_count),
                 ColumnSchema(count, DType::kInt32, TagSet{Tags::CONTINUOUS})});
  std::map<std::string, Column> columns;
  columns[options.user_column] = Column{std::move(user_values), {}};
  columns[item_list] = Column{std::move(item_values), options.pad ? Tensor() : offsets};
  columns[time_list] = Column{std::move(time_values), options.pad ? Tensor() : offsets};
  columns[count] = Column{std::move(counts), {}};
  return Dataset(std::move(schema), std::move(columns));
}

}  // namespace recblocks::datasets
