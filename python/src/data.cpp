// Schema and tags; datasets, batches and the loader; the importers.
#include <nanobind/nanobind.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <sstream>

#include "bindings.h"
#include "convert.h"
#include "recblocks/core/error.h"
#include "recblocks/data/criteo.h"
#include "recblocks/data/csv.h"
#include "recblocks/data/dataset.h"
#include "recblocks/data/loader.h"
#include "recblocks/data/movielens.h"
#include "recblocks/data/source.h"
#include "recblocks/data/synthetic.h"
#include "recblocks/schema/schema.h"
#include "recblocks/schema/tags.h"

namespace recblocks::python {
namespace fs = std::filesystem;
using namespace nb::literals;

namespace {

std::string dtype_string(DType d) { return std::string(recblocks::dtype_name(d)); }

DType parse_dtype(const std::string& name) {
  if (name == "float32") return DType::kFloat32;
  if (name == "int32") return DType::kInt32;
  if (name == "int64") return DType::kInt64;
  throw ValueError(fmt::format("dtype '{}': expected float32, int32 or int64", name));
}

TagSet tag_set(nb::handle tags) { return TagSet(tags_of(tags)); }

// A list column's values and offsets, or a dense column's values.
Column column_from(nb::handle value, const std::string& name) {
  if (nb::isinstance<nb::tuple>(value) && nb::len(value) == 2) {
    nb::tuple t = nb::borrow<nb::tuple>(value);
    return Column{from_numpy(t[0], fmt::format("column '{}' values", name)),
                  from_numpy(t[1], fmt::format("column '{}' offsets", name))};
  }
  return Column{from_numpy(value, fmt::format("column '{}'", name)), {}};
}

nb::object column_to_python(const Column& c) {
  if (c.is_list()) return nb::make_tuple(to_numpy(c.values), to_numpy(c.offsets));
  return to_numpy(c.values);
}

nb::object batch_value(const Batch& b, const std::string& name) {
  if (b.is_list(name)) {
    const RaggedTensor& r = b.ragged(name);
    return nb::make_tuple(to_numpy(r.values()), to_numpy(r.offsets()));
  }
  return to_numpy(b.tensor(name));
}

template <class T>
std::string printed(const T& value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

// An importer's on_oov by the CLI's and the CSV schema file's names.
etl::OnOov on_oov_from_name(std::string_view name, std::string_view importer) {
  if (name == "oov") return etl::OnOov::kMapToOov;
  if (name == "raise") return etl::OnOov::kRaise;
  throw ValueError(
      fmt::format("{}: on_oov '{}', expected 'oov' (id 2) or 'raise'", importer, name));
}

// CsvOptions::quote from Python: one character, or "" for no quoting
// (the schema file's spelling).
char quote_from(std::string_view text) {
  RB_CHECK(text.size() <= 1, ValueError,
           "csv: quote \"{}\": expected one character or \"\" (no quoting)", text);
  return text.empty() ? '\0' : text[0];
}

// One Python iteration over a Loader: its epoch's iterator (which shares the
// loader's plan) and whether the first batch was handed out.
struct LoaderIteration {
  Loader::Iterator it;
  bool started = false;
};

}  // namespace

void bind_schema(nb::module_& m) {
  nb::class_<Tag>(m, "Tag", "A column tag (Merlin's Tags), atomic or compound.")
      .def(
          "__init__", [](Tag* t, const std::string& name) { new (t) Tag(Tag::parse(name)); },
          "name"_a, "Tag('categorical'), Tag('CATEGORICAL'), Tag('user_id'), ...")
      .def_prop_ro(
          "name", [](Tag t) { return std::string(t.name()); },
          "Merlin's string for the tag: \"categorical\", \"user_id\", \"binary_classification\", "
          "... (lower case, also for Tag('CATEGORICAL')).")
      .def_prop_ro(
          "value", [](Tag t) { return std::string(t.name()); },
          "The same string as name, as Merlin's Tags enum members have it as their value.")
      .def("__eq__", [](Tag a, Tag b) { return a == b; })
      .def("__hash__", [](Tag t) { return t.bits(); })
      .def("__repr__", [](Tag t) { return fmt::format("Tags.{}", t.name()); })
      .def("__str__", [](Tag t) { return std::string(t.name()); });

  nb::class_<ColumnSchema>(
      m, "ColumnSchema",
      "One column of a Schema (Merlin's ColumnSchema): name, dtype, tags, integer domain, "
      "list-ness, embedding dim and properties. Immutable: the with_* methods return changed "
      "copies.")
      .def(
          "__init__",
          [](ColumnSchema* c, const std::string& name, const std::string& dtype, nb::handle tags) {
            new (c)
                ColumnSchema(name, parse_dtype(dtype), tags.is_none() ? TagSet() : tag_set(tags));
          },
          "name"_a, "dtype"_a = "float32", "tags"_a = nb::none(),
          "A column `name` of `dtype` (\"float32\", \"int32\" or \"int64\") with `tags` (a Tag "
          "or tag name, or a list of them; compound ones such as \"user_id\" are split into "
          "their parts; None: no tags), no domain, not a list. Raises ValueError for an empty "
          "name, another dtype, an unknown tag or conflicting tags (categorical with continuous).")
      .def_prop_ro("name", &ColumnSchema::name, "The column's name.")
      .def_prop_ro(
          "dtype", [](const ColumnSchema& c) { return dtype_string(c.dtype()); },
          "The values' dtype: \"float32\", \"int32\", \"int64\" (or \"bfloat16\" from a schema "
          "file).")
      .def_prop_ro(
          "tags", [](const ColumnSchema& c) { return c.tags().names(); },
          "The column's atomic tags as Merlin's strings, in Tags' declaration order "
          "([\"categorical\", \"id\", \"user\"] for a user id).")
      .def(
          "has_tag", [](const ColumnSchema& c, nb::handle tag) { return c.has_tag(tag_of(tag)); },
          "tag"_a,
          "Whether the column has every part of `tag` (a Tag or its name; \"user_id\" needs user "
          "and id). Raises ValueError for an unknown tag name.")
      .def_prop_ro(
          "properties", [](const ColumnSchema& c) { return from_json(c.properties()); },
          "The free-form properties (Merlin's extra_metadata) as a dict, a copy.")
      .def_prop_ro(
          "domain",
          [](const ColumnSchema& c) -> nb::object {
            if (!c.domain()) return nb::none();
            nb::dict d;
            d["min"] = c.domain()->min;
            d["max"] = c.domain()->max;
            d["name"] = c.domain()->name;
            return d;
          },
          "The integer domain of a categorical column, {\"min\", \"max\", \"name\"} (ids in "
          "[min, max]; columns with the same vocabulary name share an embedding table), or None.")
      .def_prop_ro("cardinality", &ColumnSchema::cardinality,
                   "domain max + 1, the rows of the column's embedding table (ids are 0..max). "
                   "Raises ValueError naming the column when it has no domain.")
      .def_prop_ro("is_list", &ColumnSchema::is_list,
                   "Whether each row holds a list of values (the column has the LIST tag).")
      .def_prop_ro("is_ragged", &ColumnSchema::is_ragged,
                   "Whether it is a list column whose rows have varying lengths (stored as "
                   "values and int64 offsets); False for a fixed-length list ([rows, n]) and a "
                   "scalar column.")
      .def_prop_ro(
          "embedding_dim", [](const ColumnSchema& c) { return c.embedding_dim(); },
          "The embedding width the schema sets for this column (Merlin's embedding_sizes "
          "dimension), or None.")
      .def(
          "with_domain",
          [](const ColumnSchema& c, std::int64_t min, std::int64_t max, const std::string& name) {
            return c.with_domain(min, max, name);
          },
          "min"_a, "max"_a, "name"_a = "",
          "A copy with the integer domain [min, max] (cardinality max + 1) and the vocabulary "
          "name `name` (\"\": the column's name). Raises ValueError naming the column for min > "
          "max, a max the dtype cannot hold, or a float32 column.")
      .def(
          "with_tags", [](const ColumnSchema& c, nb::handle t) { return c.with_tags(tag_set(t)); },
          "tags"_a,
          "A copy with `tags` (a Tag or name, or a list of them) added to the column's own. "
          "Raises ValueError naming the column for conflicting tags (categorical with "
          "continuous).")
      .def("with_embedding_dim", &ColumnSchema::with_embedding_dim, "dim"_a,
           "A copy whose embedding width is `dim` (> 0; see embedding_dim). Raises ValueError "
           "naming the column otherwise.")
      .def(
          "with_list",
          [](const ColumnSchema& c, bool is_list, bool is_ragged) {
            return c.with_list(is_list, is_ragged);
          },
          "is_list"_a, "is_ragged"_a = true,
          "A copy that is a list column (the LIST tag added) or, with is_list False, a scalar "
          "one (LIST removed). `is_ragged`: rows of varying lengths; a fixed-length list needs a "
          "value count that this binding does not set, so is_ragged=False raises ValueError (a "
          "schema file can declare one).")
      .def(
          "with_properties",
          [](const ColumnSchema& c, nb::handle p) { return c.with_properties(to_json(p)); },
          "properties"_a,
          "A copy with the dict `properties` merged into the column's properties (its keys "
          "replace existing ones). Raises ValueError naming the column for anything but a dict.")
      .def("__eq__", [](const ColumnSchema& a, const ColumnSchema& b) { return a == b; })
      .def("__repr__", [](const ColumnSchema& c) {
        return fmt::format("ColumnSchema('{}', dtype={}, tags={})", c.name(),
                           dtype_string(c.dtype()), to_string(c.tags()));
      });

  nb::class_<Schema>(m, "Schema",
                     "The columns of a dataset (Merlin's Schema): ColumnSchemas in order, "
                     "selected by name or tag. schema[i] or schema[\"name\"], len(), `in`, "
                     "iteration; `a + b` is the union (a's columns, then b's others; a column in "
                     "both must be equal), `a - b` a's columns whose names are not in b.")
      .def(nb::init<>(), "An empty schema.")
      .def(
          "__init__", [](Schema* s, const std::vector<ColumnSchema>& c) { new (s) Schema(c); },
          "columns"_a,
          "A schema of the ColumnSchemas `columns`, in that order. Raises ValueError on a "
          "duplicate column name.")
      .def("__len__", &Schema::size)
      .def("__contains__", &Schema::contains)
      .def("__getitem__",
           [](const Schema& s, nb::handle key) {
             if (nb::isinstance<nb::int_>(key)) {
               auto i = nb::cast<std::int64_t>(key);
               if (i < 0) i += static_cast<std::int64_t>(s.size());
               if (i < 0 || i >= static_cast<std::int64_t>(s.size())) throw nb::index_error();
               return s[static_cast<std::size_t>(i)];
             }
             return s.column(nb::cast<std::string>(key));
           })
      .def("__iter__",
           [](const Schema& s) {
             nb::list l;
             for (const auto& c : s) l.append(c);
             return nb::iter(l);
           })
      .def_prop_ro("column_names", &Schema::column_names, "The columns' names, in order.")
      .def("column", &Schema::column, "name"_a,
           "The ColumnSchema named `name`. Raises ValueError naming it and listing the available "
           "columns.")
      .def("first", &Schema::first,
           "The first ColumnSchema. Raises ValueError when the schema is empty.")
      .def(
          "select_by_name",
          [](const Schema& s, nb::handle names) {
            if (nb::isinstance<nb::str>(names))
              return s.select_by_name({nb::cast<std::string>(names)});
            return s.select_by_name(nb::cast<std::vector<std::string>>(names));
          },
          "names"_a,
          "A schema of the columns `names` (one name or a list), in that order. Raises "
          "ValueError for an unknown name, listing the available columns.")
      .def(
          "select_by_tag",
          [](const Schema& s, nb::handle tags) {
            const std::vector<Tag> t = tags_of(tags);
            return t.size() == 1 ? s.select_by_tag(t[0]) : s.select_by_tag(t);
          },
          "tags"_a,
          "A schema of the columns having `tags`, in schema order: one Tag or name (every part "
          "of a compound tag: \"user_id\" is user and id), or a list (columns having any of "
          "them). Raises ValueError for an unknown tag name.")
      .def(
          "remove_by_tag",
          [](const Schema& s, nb::handle tags) {
            const std::vector<Tag> t = tags_of(tags);
            return t.size() == 1 ? s.remove_by_tag(t[0]) : s.remove_by_tag(t);
          },
          "tags"_a,
          "A schema of the columns that select_by_tag(`tags`) leaves out, in schema order.")
      .def("without", &Schema::without, "names"_a,
           "A schema of every column except those in the list `names` (unknown names are "
           "ignored, as in Merlin).")
      .def("with_column", &Schema::with_column, "column"_a,
           "A schema with the ColumnSchema `column` replacing the column of its name in place, "
           "or appended when there is none.")
      .def("__add__", &Schema::operator+)
      .def("__sub__", &Schema::operator-)
      .def("__eq__", [](const Schema& a, const Schema& b) { return a == b; })
      .def(
          "to_json", [](const Schema& s) { return from_json(s.to_json()); },
          "The schema as a dict in recblocks' schema.json format ({\"format\": "
          "\"recblocks.schema\", \"version\": 1, \"columns\": [...]}).")
      .def_static(
          "from_json", [](nb::handle j) { return Schema::from_json(to_json(j), "schema"); },
          "json"_a,
          "The Schema of a dict in recblocks' format (to_json) or in the proto-JSON that "
          "Merlin/NVTabular write ({\"feature\": [...]}). Raises ValueError saying what is wrong "
          "(unknown key, format version, dtype, tag).")
      .def(
          "save",
          [](const Schema& s, const fs::path& path, const std::string& format) {
            s.save_as(path, parse_schema_format(format));
          },
          "path"_a, "format"_a = "recblocks",
          "Writes the schema to the file `path`, atomically (a temporary file, fsync, rename), "
          "in `format`: \"recblocks\" (schema.json), \"merlin-pbtxt\" (Merlin's schema.pbtxt, "
          "which merlin-core and NVTabular read) or \"merlin-json\" (the same as proto-JSON). "
          "Raises ValueError for another format, Error when it cannot be written.")
      .def_static(
          "load", &Schema::load, "path"_a,
          "The Schema of the file `path`: recblocks' schema.json, Merlin's proto-JSON or Merlin's "
          "schema.pbtxt. "
          "Raises ValueError naming the file and the line, column and byte of a parse "
          "error, or what is wrong.")
      .def("__repr__", [](const Schema& s) { return printed(s); });
}

void bind_data(nb::module_& m) {
  nb::class_<Dataset>(m, "Dataset", "A table of columns: schema.json plus one .npy per column.")
      .def(
          "__init__",
          [](Dataset* d, const Schema& schema, nb::dict columns) {
            std::map<std::string, Column> cols;
            for (auto [k, v] : columns) {
              const std::string name = nb::cast<std::string>(k);
              cols.emplace(name, column_from(v, name));
            }
            new (d) Dataset(schema, std::move(cols));
          },
          "schema"_a, "columns"_a,
          "A dataset over numpy arrays (no copy for float32, int32 and int64 C-contiguous arrays); "
          "a "
          "list column is a (values, offsets) pair.")
      .def_static("load", &Dataset::load, "path"_a,
                  "The dataset directory `path` (schema.json plus one .npy per column), "
                  "memory-mapped. Raises Error naming a missing file, ValueError naming the file "
                  "and column of a dtype, row count or offsets that do not match the schema.")
      .def("save", &Dataset::save, "path"_a, nb::call_guard<nb::gil_scoped_release>(),
           "Writes the dataset directory `path` (schema.json last, one .npy per column, "
           "<column>.offsets.npy for a ragged list), atomically replacing an existing one. "
           "Raises Error when it cannot be written.")
      .def_prop_ro("schema", &Dataset::schema, "The Schema of its columns.")
      .def_prop_ro("num_rows", &Dataset::num_rows, "The number of rows (also len()).")
      .def("__len__", &Dataset::num_rows)
      .def_prop_ro(
          "path", [](const Dataset& d) { return d.path(); },
          "The directory it was loaded from (a pathlib.Path; kept by select and select_by_name), "
          "or Path('') (printed '.') for one made in memory, by slice_rows or by take.")
      .def_prop_ro(
          "column_names", [](const Dataset& d) { return d.schema().column_names(); },
          "The columns' names, in schema order.")
      .def(
          "column",
          [](const Dataset& d, const std::string& name) {
            return column_to_python(d.column(name));
          },
          "name"_a,
          "The column `name` (also dataset[name]) as a numpy array sharing its storage, [rows] "
          "(or [rows, n] for a fixed-length list), or a (values, int64 offsets [rows + 1]) pair "
          "for a ragged list column. Raises ValueError listing the available columns.")
      .def("__getitem__", [](const Dataset& d,
                             const std::string& name) { return column_to_python(d.column(name)); })
      .def("__contains__",
           [](const Dataset& d, const std::string& name) { return d.schema().contains(name); })
      .def(
          "to_dict",
          [](const Dataset& d) {
            nb::dict out;
            for (const auto& c : d.schema())
              out[c.name().c_str()] = column_to_python(d.column(c.name()));
            return out;
          },
          "Every column by name, in schema order, each as column() gives it (no copies).")
      .def("select", &Dataset::select, "schema"_a,
           "The same rows with the columns of `schema` (a Schema, usually a selection of this "
           "one's), in its order, sharing their storage. Raises ValueError for a column the "
           "dataset lacks or whose data does not match the given ColumnSchema.")
      .def("select_by_name", &Dataset::select_by_name, "names"_a,
           "The same rows with the columns `names` (a list), in that order, sharing their "
           "storage. Raises ValueError for an unknown name, listing the available columns.")
      .def("slice_rows", &Dataset::slice_rows, "begin"_a, "end"_a,
           "Rows [begin, end) with every column, sharing the values' storage (a list column gets "
           "new offsets, starting at 0). Raises ValueError unless 0 <= begin <= end <= num_rows.")
      .def(
          "take",
          [](const Dataset& d, const std::vector<std::int64_t>& rows) { return d.take(rows); },
          "rows"_a,
          "The rows `rows` (a list of indices; repeats allowed), in that order, copied, with "
          "every column. Raises ValueError naming an index outside [0, num_rows).")
      .def("__repr__", [](const Dataset& d) {
        return fmt::format("Dataset({} rows, columns: {}{})", d.num_rows(),
                           fmt::join(d.schema().column_names(), ", "),
                           d.path().empty() ? "" : ", path: " + d.path().string());
      });

  nb::class_<Batch>(m, "Batch", "One batch of a Loader: column name -> numpy array.")
      .def(
          "__init__", [](Batch* b, const Dataset& d) { new (b) Batch(d); }, "dataset"_a,
          "Every row of the Dataset `dataset` as one batch, sharing its storage (no copy).")
      .def_prop_ro("rows", &Batch::rows, "The number of rows.")
      .def("__len__", &Batch::size)
      .def("keys", &Batch::names,
           "The column names, in schema order (len() is their number, not the rows).")
      .def("__contains__", &Batch::contains)
      .def("__getitem__", &batch_value)
      .def("__iter__", [](const Batch& b) { return nb::iter(nb::cast(b.names())); })
      .def_prop_ro("schema", &Batch::schema, "The Schema of its columns, in order.")
      .def("features", &Batch::features,
           "A Batch of the columns without the TARGET tag (sharing their arrays).")
      .def("targets", &Batch::targets,
           "A Batch of the columns with the TARGET tag (sharing their arrays).")
      .def("select", &Batch::select, "names"_a,
           "A Batch of the columns `names` (a list), in that order, sharing their arrays. Raises "
           "ValueError for an unknown name, listing the available columns.")
      .def(
          "to_dict",
          [](const Batch& b) {
            nb::dict out;
            for (const auto& n : b.names()) out[n.c_str()] = batch_value(b, n);
            return out;
          },
          "Every column by name, in schema order: a numpy array [rows] (or [rows, n]), or a "
          "(values, int64 offsets [rows + 1]) pair for a ragged list column, as batch[name] "
          "gives.")
      .def("__repr__", [](const Batch& b) { return b.str(); });

  nb::class_<LoaderIteration>(m, "_LoaderIteration")
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", [](LoaderIteration& i) {
        if (i.started) {
          nb::gil_scoped_release release;
          ++i.it;
        }
        i.started = true;
        if (i.it == std::default_sentinel) throw nb::stop_iteration();
        return *i.it;
      });

  nb::class_<DataSource>(
      m, "DataSource",
      "A dataset read chunk by chunk (rows of a dataset directory), for data larger than "
      "memory: Model.fit, Model.evaluate and Loader stream it with bounded memory.")
      .def_prop_ro("schema", &DataSource::schema, "The Schema of its columns.")
      .def("__len__", &DataSource::num_rows, "Its number of rows.")
      .def_prop_ro("num_chunks", &DataSource::num_chunks, "Its number of chunks.")
      .def("chunk_rows", &DataSource::chunk_rows, "chunk"_a,
           "The rows of chunk `chunk`; raises ValueError for a chunk out of range.")
      .def(
          "read_chunk",
          [](const DataSource& s, std::int64_t chunk, const std::vector<std::string>& names) {
            nb::gil_scoped_release release;
            return s.read_chunk(chunk, names);
          },
          "chunk"_a, "names"_a = std::vector<std::string>{},
          "Chunk `chunk` as a Dataset: every column, or the columns `names` in that order. "
          "Raises ValueError for a chunk out of range or an unknown name, RuntimeError naming "
          "the file when reading fails.")
      .def("__repr__", [](const DataSource& s) { return "DataSource(" + s.describe() + ")"; });

  m.def(
      "npy_source",
      [](const fs::path& dir, std::int64_t chunk_rows) { return npy_source(dir, chunk_rows); },
      "dir"_a, "chunk_rows"_a = std::int64_t{1} << 18,
      "A dataset directory (schema.json and one .npy per column) as a DataSource of "
      "`chunk_rows`-row chunks, read with pread when asked for (no file stays mapped, so "
      "memory stays bounded). Its files' headers, dtypes and shapes are checked now, a list "
      "column's offsets chunk by chunk. Raises ValueError or RuntimeError naming the file.");
  m.def(
      "in_memory_source",
      [](const Dataset& d, std::int64_t chunk_rows) { return in_memory_source(d, chunk_rows); },
      "dataset"_a, "chunk_rows"_a = std::int64_t{1} << 20,
      "A Dataset as a DataSource of `chunk_rows`-row chunks (sharing its memory).");

  nb::class_<Loader>(m, "Loader", "Batches of a dataset: shuffled each epoch, prefetched.")
      .def(
          "__init__",
          [](Loader* l, const Dataset& d, std::int64_t batch_size, bool shuffle, std::uint64_t seed,
             bool drop_last, int prefetch) {
            new (l) Loader(d, {.batch_size = batch_size,
                               .shuffle = shuffle,
                               .seed = seed,
                               .drop_last = drop_last,
                               .prefetch = prefetch});
          },
          "dataset"_a, "batch_size"_a = 1024, "shuffle"_a = true, "seed"_a = 0,
          "drop_last"_a = false, "prefetch"_a = 2,
          "A loader of `dataset` in Batches of `batch_size` rows (> 0; the last batch of an "
          "epoch may be shorter, or dropped with `drop_last`). Each `for` over it is one epoch: "
          "with `shuffle`, in a new order that depends only on (`seed`, epoch, rows), else in "
          "dataset order; every row once. `prefetch`: batches prepared ahead by a background "
          "thread (0: on the caller's thread). len() is the batches per epoch. Raises ValueError "
          "for batch_size <= 0 or prefetch < 0.")
      .def(
          "__init__",
          [](Loader* l, DataSourcePtr source, std::int64_t batch_size, bool shuffle,
             std::uint64_t seed, bool drop_last, int prefetch, std::int64_t shuffle_window) {
            new (l) Loader(std::move(source), {.batch_size = batch_size,
                                               .shuffle = shuffle,
                                               .seed = seed,
                                               .drop_last = drop_last,
                                               .prefetch = prefetch,
                                               .shuffle_window = shuffle_window});
          },
          "source"_a, "batch_size"_a = 1024, "shuffle"_a = true, "seed"_a = 0,
          "drop_last"_a = false, "prefetch"_a = 2, "shuffle_window"_a = 4,
          "A streaming loader of the DataSource `source`: each epoch takes its chunks in a "
          "new order (`seed`, epoch), `shuffle_window` chunks at a time read by a background "
          "thread, and shuffles the rows of those chunks together (without `shuffle`: every "
          "row in order). Every batch but an epoch's last is full; every row comes once. "
          "Raises ValueError for batch_size <= 0, prefetch < 0 or shuffle_window <= 0.")
      .def("__len__", &Loader::num_batches)
      .def_prop_rw("epoch", &Loader::epoch, &Loader::set_epoch,
                   "The epoch the next iteration runs (0, 1, 2, ...; each iteration adds one); "
                   "set it to resume an epoch's order.")
      .def_prop_ro("dataset", &Loader::dataset, "The Dataset it batches.")
      .def("__iter__", [](Loader& l) {
        nb::gil_scoped_release release;     // the first batches start loading
        return LoaderIteration{l.begin()};  // the next epoch's order
      });

  // Importers.
  m.def(
      "movielens",
      [](const std::string& variant, const fs::path& dir, const fs::path& source,
         std::uint64_t seed, double valid_fraction, bool overwrite, bool download, bool progress,
         const std::string& split, std::int64_t history_length) {
        datasets::MovieLensOptions o{.source = source,
                                     .seed = seed,
                                     .valid_fraction = valid_fraction,
                                     .overwrite = overwrite,
                                     .download = download,
                                     .progress = progress,
                                     .split = datasets::split_from_name(split),
                                     .history_length = history_length};
        nb::gil_scoped_release release;
        return datasets::movielens(variant, dir, o);
      },
      "variant"_a, "dir"_a, "source"_a = fs::path(), "seed"_a = 42, "valid_fraction"_a = 0.2,
      "overwrite"_a = false, "download"_a = true, "progress"_a = false, "split"_a = "random",
      "history_length"_a = 0,
      "(train, valid) Datasets of the MovieLens `variant` (\"ml-100k\", \"ml-1m\", \"ml-25m\", "
      "\"ml-latest-small\") through Merlin's get_movielens ETL (see "
      "include/recblocks/data/movielens.h), written to dir/<variant>/train, valid and etl; a "
      "later call loads them unless `overwrite`. Raw files: in dir/<variant>/ or `dir`, else "
      "from `source` (a <variant>.zip or a directory; the default, an empty path: none), else "
      "downloaded when `download` (a progress line on stderr when `progress`). `split`: "
      "\"random\" (a `valid_fraction` of the ratings drawn with `seed`), \"leave-last-out\" "
      "(each user's latest rating) or \"time\" (the latest `valid_fraction`); `history_length` > "
      "0 adds movieId_history, the user's latest earlier movies. recblocks.movielens wraps it "
      "with a default `dir`. Raises ValueError for an unknown variant or split, valid_fraction "
      "outside (0, 1) or a negative history_length, Error naming what to get from where when the "
      "raw files cannot be had.");
  m.def(
      "synthetic_movielens",
      [](const fs::path& dir, std::int64_t users, std::int64_t movies, std::int64_t ratings,
         std::int64_t min_ratings_per_user, std::uint64_t seed, double zipf_exponent) {
        datasets::SyntheticMovieLensOptions o{.users = users,
                                              .movies = movies,
                                              .ratings = ratings,
                                              .min_ratings_per_user = min_ratings_per_user,
                                              .seed = seed,
                                              .zipf_exponent = zipf_exponent};
        nb::gil_scoped_release release;
        datasets::synthetic_movielens(dir, o);
      },
      "dir"_a, "users"_a = 6040, "movies"_a = 3706, "ratings"_a = 1'000'209,
      "min_ratings_per_user"_a = 20, "seed"_a = 0, "zipf_exponent"_a = 0.5,
      "Raw ml-1m files (ratings.dat, users.dat, movies.dat) with a planted signal in `dir`, "
      "for movielens('ml-1m', ..., source=dir).");
  m.def(
      "synthetic_criteo",
      [](const fs::path& out, std::int64_t rows, std::uint64_t seed, std::int64_t max_table_size,
         std::vector<std::int64_t> table_sizes, double zipf_exponent, double valid_fraction,
         bool write_tsv) {
        datasets::SyntheticCriteoOptions o{.rows = rows,
                                           .seed = seed,
                                           .max_table_size = max_table_size,
                                           .table_sizes = std::move(table_sizes),
                                           .zipf_exponent = zipf_exponent,
                                           .valid_fraction = valid_fraction,
                                           .write_tsv = write_tsv};
        nb::gil_scoped_release release;
        const auto r = datasets::synthetic_criteo(out, o);
        return std::make_pair(r.train, r.valid);
      },
      "out"_a, "rows"_a = 1'000'000, "seed"_a = 0, "max_table_size"_a = 100'000,
      "table_sizes"_a = std::vector<std::int64_t>{}, "zipf_exponent"_a = 1.1,
      "valid_fraction"_a = 0.0, "write_tsv"_a = false,
      "(train, valid) of a synthetic Criteo dataset in `out`; table_sizes: 26 sizes (empty: "
      "the Kaggle ones, capped at max_table_size); write_tsv: also out/raw/train.tsv (and "
      "valid.tsv) in the original format, for criteo().");
  m.def(
      "synthetic",
      [](const Schema& schema, const fs::path& out, std::int64_t rows, std::uint64_t seed,
         double zipf_exponent, double positive_rate, double valid_fraction) {
        datasets::SyntheticOptions o{.rows = rows,
                                     .seed = seed,
                                     .zipf_exponent = zipf_exponent,
                                     .positive_rate = positive_rate,
                                     .valid_fraction = valid_fraction};
        nb::gil_scoped_release release;
        const auto r = datasets::synthetic_from_schema(schema, out, o);
        return std::make_pair(r.train, r.valid);
      },
      "schema"_a, "out"_a, "rows"_a = 100'000, "seed"_a = 0, "zipf_exponent"_a = 1.1,
      "positive_rate"_a = 0.3, "valid_fraction"_a = 0.0,
      "(train, valid) of `rows` synthetic rows for any `schema`, with a planted signal, written "
      "to `out` (train/, valid/ and synthetic.json, replacing it whole): categorical columns "
      "need a domain, their ids drawn in it with Zipf popularity of exponent `zipf_exponent` (0, "
      "1, 2 left out when min is 0 and max > 3; list lengths in their value count, default "
      "1..4); float32 continuous columns are N(0, 1); binary targets are drawn from a known "
      "logit at an expected rate `positive_rate` (in (0, 1)), regression targets logit + N(0, "
      "0.5^2). The last `valid_fraction` (in [0, 1)) of the rows are valid (0: valid has no "
      "columns); the target columns' properties[\"synthetic\"] hold the oracle's bayes_auc. The "
      "same for a seed whatever the thread count. Raises ValueError for a schema without a "
      "target column or the values above out of range.");
  m.def(
      "criteo",
      [](const std::vector<fs::path>& files, const fs::path& out, const std::string& format,
         std::int64_t min_frequency, std::int64_t num_buckets, const std::string& on_oov,
         double valid_fraction, std::vector<fs::path> valid_files, std::int64_t max_rows) {
        // The library reads max_rows <= 0 as "every row"; a negative count
        // is a mistake worth naming (the CLI refuses it too).
        RB_CHECK(max_rows >= 0, ValueError, "criteo: max_rows {}, expected >= 0 (0: every row)",
                 max_rows);
        datasets::CriteoOptions o{.format = datasets::parse_criteo_format(format),
                                  .min_frequency = min_frequency,
                                  .num_buckets = num_buckets,
                                  .on_oov = on_oov_from_name(on_oov, "criteo"),
                                  .valid_fraction = valid_fraction,
                                  .valid_files = std::move(valid_files),
                                  .max_rows = max_rows};
        nb::gil_scoped_release release;
        const auto r = datasets::criteo(files, out, o);
        return std::make_pair(r.train, r.valid);
      },
      "files"_a, "out"_a, "format"_a = "auto", "min_frequency"_a = 1, "num_buckets"_a = 0,
      "on_oov"_a = "oov", "valid_fraction"_a = 0.0, "valid_files"_a = std::vector<fs::path>{},
      "max_rows"_a = 0,
      "(train, valid) of Criteo files (TSV, or CSV with a header; format 'auto', 'tsv' or "
      "'csv') imported into `out` with DLRM's preprocessing. num_buckets > 0 hashes values "
      "without an id into that many buckets; on_oov: 'oov' (id 2) or 'raise' for validation "
      "values without an id; valid_files: a split by day file; max_rows > 0: the first rows "
      "of each file only.");
  m.def(
      "csv",
      [](const fs::path& input, nb::handle spec, const fs::path& out,
         const std::optional<std::string>& delimiter, std::optional<bool> header,
         const std::optional<std::string>& quote, double valid_fraction) {
        const datasets::CsvSpec s = nb::isinstance<nb::dict>(spec)
                                        ? datasets::CsvSpec::from_json(to_json(spec), "spec")
                                        : datasets::CsvSpec::load(nb::cast<fs::path>(spec));
        datasets::CsvOptions o{.header = header, .valid_fraction = valid_fraction};
        if (delimiter) o.delimiter = datasets::parse_delimiter(*delimiter);
        if (quote) o.quote = quote_from(*quote);
        nb::gil_scoped_release release;
        const auto r = datasets::csv(input, s, out, o);
        return std::make_pair(r.train, r.valid);
      },
      "input"_a, "spec"_a, "out"_a, "delimiter"_a = nb::none(), "header"_a = nb::none(),
      "quote"_a = nb::none(), "valid_fraction"_a = 0.0,
      "(train, valid) of a CSV/TSV file described by `spec` (a dict or a schema file, see "
      "include/recblocks/data/csv.h) imported into `out`. delimiter (',', 'tab', ';', ...), "
      "header (bool) and quote (one character, '' for none) override the spec's; None keeps "
      "them.");

  nb::class_<datasets::CsvTransform>(
      m, "CsvTransform",
      "The fitted ETL of a csv() import (out/etl): turns another file of the same format into "
      "a dataset exactly as the import did.")
      .def_static(
          "load",
          [](const fs::path& etl_dir) {
            nb::gil_scoped_release release;
            return datasets::CsvTransform::load(etl_dir);
          },
          "etl_dir"_a,
          "The fitted ETL in `etl_dir` (a csv() import's out/etl: csv.json and "
          "categorify/<column>.json). Raises recblocks.Error naming a missing or malformed file.")
      .def_prop_ro("schema", &datasets::CsvTransform::schema,
                   "The import's output Schema, which transform()'s datasets have.")
      .def(
          "transform",
          [](const datasets::CsvTransform& t, const fs::path& input) {
            nb::gil_scoped_release release;
            return t.transform(input);
          },
          "input"_a, "The rows of `input` (targets included when the file has them).");

  nb::class_<datasets::CriteoTransform>(
      m, "CriteoTransform",
      "The fitted ETL of a criteo() import (out/etl): turns more Criteo files (a later day) "
      "into a dataset exactly as the import did.")
      .def_static(
          "load",
          [](const fs::path& etl_dir) {
            nb::gil_scoped_release release;
            return datasets::CriteoTransform::load(etl_dir);
          },
          "etl_dir"_a,
          "The fitted ETL in `etl_dir` (a criteo() import's out/etl: categorify/C1.json .. "
          "C26.json). Raises recblocks.Error naming a missing or malformed file.")
      .def_prop_ro("schema", &datasets::CriteoTransform::schema,
                   "The Schema of transform()'s datasets, the import's: label, I1..I13, C1..C26 "
                   "with their domains.")
      .def(
          "transform",
          [](const datasets::CriteoTransform& t, const fs::path& file, const std::string& format,
             std::int64_t max_rows) {
            RB_CHECK(max_rows >= 0, ValueError,
                     "CriteoTransform: max_rows {}, expected >= 0 (0: every row)", max_rows);
            const datasets::CriteoFormat f = datasets::parse_criteo_format(format);
            nb::gil_scoped_release release;
            return t.transform(datasets::read_criteo(file, f, max_rows));
          },
          "file"_a, "format"_a = "auto", "max_rows"_a = 0,
          "The rows of a Criteo file (format and max_rows as in criteo()).");
}

}  // namespace recblocks::python
