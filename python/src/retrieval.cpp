// Recommenders over a trained retrieval model: top-k items for queries,
// exact over the whole catalogue, and their top-k evaluation.
#include <nanobind/nanobind.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>

#include "bindings.h"
#include "convert.h"
#include "recblocks/retrieval/recommender.h"

namespace recblocks::python {
using namespace nb::literals;

namespace {

const retrieval::SeenItems* seen_of(nb::handle seen) {
  return seen.is_none() ? nullptr : nb::cast<const retrieval::SeenItems*>(seen);
}

}  // namespace

void bind_retrieval(nb::module_& m) {
  namespace rt = retrieval;
  nb::class_<rt::SeenItems>(m, "SeenItems", "The items each user has seen (left out of its top k).")
      .def(nb::init<const Dataset&, const std::string&, const std::string&>(), "data"_a,
           "user_column"_a, "item_column"_a);

  nb::class_<rt::Recommender>(m, "Recommender",
                              "Top-k items for queries over a whole item catalogue.")
      .def_prop_ro("num_items", &rt::Recommender::num_items)
      .def_prop_ro("item_column", &rt::Recommender::item_column)
      .def_prop_ro("item_ids", [](const rt::Recommender& r) { return to_numpy(r.item_ids()); })
      .def_prop_ro("item_vectors",
                   [](const rt::Recommender& r) { return to_numpy(r.item_vectors()); })
      .def(
          "query_vectors",
          [](const rt::Recommender& r, const Dataset& queries) {
            Tensor t;
            {
              nb::gil_scoped_release release;
              t = r.query_vectors(queries);
            }
            return to_numpy(t);
          },
          "queries"_a)
      .def(
          "recommend",
          [](const rt::Recommender& r, const Dataset& queries, std::int64_t k, nb::handle seen) {
            const rt::SeenItems* s = seen_of(seen);
            rt::TopK top;
            {
              nb::gil_scoped_release release;
              top = r.recommend(queries, k, s);
            }
            return nb::make_tuple(to_numpy(top.ids), to_numpy(top.scores));
          },
          "queries"_a, "k"_a = 10, "seen"_a = nb::none(),
          "(item ids [Q, k], scores [Q, k]) of each query row, best first; `seen` items left "
          "out.")
      .def(
          "evaluate",
          [](const rt::Recommender& r, const Dataset& data, std::vector<int> ks, nb::handle seen,
             std::int64_t batch_size) {
            Logs logs;
            {
              nb::gil_scoped_release release;
              logs = r.evaluate(
                  data, {.ks = std::move(ks), .seen = seen_of(seen), .batch_size = batch_size});
            }
            nb::dict out;
            for (const auto& [key, value] : logs) out[key.c_str()] = value;
            return out;
          },
          "data"_a, "ks"_a = std::vector<int>{10}, "seen"_a = nb::none(), "batch_size"_a = 1024,
          "Top-k metrics over the whole catalogue (recall, precision, map, mrr, ndcg at each k).");

  nb::class_<rt::TopKRecommender, rt::Recommender>(m, "TopKRecommender")
      .def(
          "__init__",
          [](rt::TopKRecommender* p, const Model& model, const Dataset& items,
             std::int64_t batch_size) {
            nb::gil_scoped_release release;
            new (p) rt::TopKRecommender(model, items, {.batch_size = batch_size});
          },
          "model"_a, "items"_a, "batch_size"_a = 4096,
          "The item tower run over `items` (one row per item) of a trained retrieval model.");
  nb::class_<rt::PopularityRecommender, rt::Recommender>(m, "PopularityRecommender")
      .def(nb::init<const Dataset&, const std::string&>(), "train"_a, "item_column"_a,
           "Every query gets the most frequent training items: the baseline.");
}

}  // namespace recblocks::python
