// Workflow (etl.h): the steps over a RawTable, fit on train, the Dataset
// they build, and the fitted state saved beside it.
#include <algorithm>
#include <cmath>
#include <limits>

#include "data/etl_internal.h"
#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"
#include "recblocks/data/etl.h"
#include "recblocks/io/atomic.h"

namespace recblocks::etl {

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
          columns.emplace_back("TE_" + name + "_" + step.target, DType::kFloat32, step.tags);
          break;
        case StepKind::kTarget: columns.emplace_back(name, step.dtype, step.tags); break;
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
        if (!impl_->list_counts.empty()) {
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
  const nlohmann::json doc = detail::parse_json_file(path);
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
