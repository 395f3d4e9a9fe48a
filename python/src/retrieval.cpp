// Retrieval: exact top-k by inner product, the FAISS index (AnnIndex), and
// recommenders over a trained retrieval model: top-k items for queries over
// the whole catalogue (exact, or from an index), and their top-k evaluation.
#include <nanobind/nanobind.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "recblocks/core/error.h"
#include "recblocks/retrieval/ann.h"
#include "recblocks/retrieval/index.h"
#include "recblocks/retrieval/recommender.h"
#include "recblocks/retrieval/topk.h"

namespace recblocks::python {
using namespace nb::literals;

namespace {

const retrieval::SeenItems* seen_of(nb::handle seen) {
  return seen.is_none() ? nullptr : nb::cast<const retrieval::SeenItems*>(seen);
}

// Exclusion lists of a search: None, a (values, offsets) pair of arrays as
// a list column's, or one sequence of item ids per query.
std::optional<RaggedTensor> exclusions_of(nb::handle exclude) {
  if (exclude.is_none()) return std::nullopt;
  if (nb::isinstance<nb::tuple>(exclude) && nb::len(exclude) == 2) {
    nb::tuple t = nb::borrow<nb::tuple>(exclude);
    return RaggedTensor(from_numpy(t[0], "exclude values"), from_numpy(t[1], "exclude offsets"));
  }
  std::vector<std::int64_t> values;
  std::vector<std::int64_t> offsets{0};
  for (nb::handle row : exclude) {
    const auto query = static_cast<std::int64_t>(offsets.size()) - 1;
    RB_CHECK(nb::hasattr(row, "__iter__"), ValueError,
             "exclude: query {} has {}, expected a sequence of item ids", query,
             nb::cast<std::string>(nb::repr(row)));
    for (nb::handle id : row) {
      std::int64_t value = 0;
      RB_CHECK(nb::try_cast(id, value), ValueError,
               "exclude: query {} has {}, expected integer item ids", query,
               nb::cast<std::string>(nb::repr(id)));
      values.push_back(value);
    }
    offsets.push_back(static_cast<std::int64_t>(values.size()));
  }
  const auto n = static_cast<std::int64_t>(values.size());
  return RaggedTensor(
      Tensor::from<std::int64_t>(Shape{n}, values),
      Tensor::from<std::int64_t>(Shape{static_cast<std::int64_t>(offsets.size())}, offsets));
}

nb::tuple top_k_to_python(const retrieval::TopK& top) {
  return nb::make_tuple(to_numpy(top.ids), to_numpy(top.scores));
}

// An (ids, scores) pair as search() and top_k() return it, or ids alone.
retrieval::TopK top_k_from(nb::handle answer, const char* what) {
  nb::object ids = nb::borrow(answer);
  if (nb::isinstance<nb::tuple>(answer) && nb::len(answer) == 2) ids = answer[0];
  Tensor t = from_numpy(ids, what);
  if (t.dtype() == DType::kInt32) {  // recall_against reads int64 ids, as answers hold them
    ids = nb::module_::import_("numpy").attr("asarray")(ids, "dtype"_a = "int64");
    t = from_numpy(ids, what);
  }
  RB_CHECK(t.dtype() == DType::kInt64, ValueError, "{}: ids are {}, expected integers", what,
           dtype_name(t.dtype()));
  return {t, {}};
}

}  // namespace

void bind_retrieval(nb::module_& m) {
  namespace rt = retrieval;
  m.def(
      "top_k",
      [](nb::handle queries, nb::handle items, std::int64_t k, nb::handle exclude) {
        const Tensor q = from_numpy(queries, "top_k queries");
        const Tensor i = from_numpy(items, "top_k items");
        const std::optional<RaggedTensor> ex = exclusions_of(exclude);
        rt::TopK top;
        {
          nb::gil_scoped_release release;
          top = rt::top_k(q, i, k, ex ? &*ex : nullptr);
        }
        return top_k_to_python(top);
      },
      "queries"_a, "items"_a, "k"_a = 10, "exclude"_a = nb::none(),
      "Exact top k by inner product: (ids int64 [Q, min(k, N)], scores float32) of queries "
      "[Q, d] over items [N, d], best first, ties to the lower id. exclude: one list of item "
      "rows per query (or a (values, offsets) pair) never returned; -1 and -inf pad a row "
      "short of items.");
  m.def(
      "recall_against",
      [](nb::handle approx, nb::handle exact) {
        return rt::recall_against(top_k_from(approx, "recall_against approx"),
                                  top_k_from(exact, "recall_against exact"));
      },
      "approx"_a, "exact"_a,
      "The mean over queries of the share of the exact answer's items that the approximate "
      "answer holds; each an (ids, scores) pair as AnnIndex.search and top_k return, or ids.");

  nb::class_<rt::ItemIndex>(m, "ItemIndex",
                            "An item index a Recommender can serve from (AnnIndex).")
      .def_prop_ro("size", &rt::ItemIndex::size,
                   "The number of indexed items N (also len()); search's ids are in [0, N).")
      .def_prop_ro("dim", &rt::ItemIndex::dim, "The items' dimension d, which queries must have.")
      .def("__len__", &rt::ItemIndex::size)
      .def(
          "search",
          [](const rt::ItemIndex& index, nb::handle queries, std::int64_t k, nb::handle exclude) {
            const Tensor q = from_numpy(queries, "search queries");
            const std::optional<RaggedTensor> ex = exclusions_of(exclude);
            rt::TopK top;
            {
              nb::gil_scoped_release release;
              top = index.search(q, k, ex ? &*ex : nullptr);
            }
            return top_k_to_python(top);
          },
          "queries"_a, "k"_a = 10, "exclude"_a = nb::none(),
          "(ids int64 [Q, min(k, N)], scores float32) of queries [Q, d], best first, as top_k "
          "answers: ids are rows of the indexed items; exclude as in top_k.");

  nb::class_<rt::AnnIndex, rt::ItemIndex>(
      m, "AnnIndex",
      "Approximate top k by inner product on FAISS: an HNSW graph or an inverted file (IVF).")
      .def(
          "__init__",
          [](rt::AnnIndex* p, nb::handle items, const std::string& kind, int hnsw_m,
             int ef_construction, int ef_search, std::int64_t nlist, std::int64_t nprobe) {
            const Tensor t = from_numpy(items, "AnnIndex items");
            const rt::AnnOptions o{.kind = rt::ann_kind_from_name(kind),
                                   .hnsw_m = hnsw_m,
                                   .ef_construction = ef_construction,
                                   .ef_search = ef_search,
                                   .nlist = nlist,
                                   .nprobe = nprobe};
            nb::gil_scoped_release release;
            new (p) rt::AnnIndex(t, o);
          },
          "items"_a, "kind"_a = "hnsw", "hnsw_m"_a = 32, "ef_construction"_a = 64,
          "ef_search"_a = 128, "nlist"_a = 0, "nprobe"_a = 16,
          "An index over items float32 [N, d] (copied). kind 'hnsw': hnsw_m neighbours per "
          "node, ef_construction and ef_search candidates when building and searching; 'ivf': "
          "nlist lists (0: 4 sqrt(N), at most N / 39) of which nprobe are searched.")
      .def_prop_ro(
          "kind", [](const rt::AnnIndex& a) { return rt::ann_kind_name(a.options().kind); },
          "The index kind: \"hnsw\" or \"ivf\".")
      .def_prop_ro(
          "options",
          [](const rt::AnnIndex& a) {
            const rt::AnnOptions& o = a.options();
            nb::dict d;
            d["kind"] = rt::ann_kind_name(o.kind);
            d["hnsw_m"] = o.hnsw_m;
            d["ef_construction"] = o.ef_construction;
            d["ef_search"] = o.ef_search;
            d["nlist"] = o.nlist;
            d["nprobe"] = o.nprobe;
            return d;
          },
          "The constructor's options as a dict (kind, hnsw_m, ef_construction, ef_search, nlist, "
          "nprobe), as given: nlist 0 stays 0 (the number chosen from N).")
      .def("__repr__", [](const rt::AnnIndex& a) {
        return fmt::format("AnnIndex({} items of dim {}, kind={})", a.size(), a.dim(),
                           rt::ann_kind_name(a.options().kind));
      });
  nb::class_<rt::SeenItems>(m, "SeenItems", "The items each user has seen (left out of its top k).")
      .def(nb::init<const Dataset&, const std::string&, const std::string&>(), "data"_a,
           "user_column"_a, "item_column"_a,
           "The distinct (user, item) pairs of the Dataset `data`'s columns `user_column` and "
           "`item_column` (scalar int32 or int64 ids), for recommend(seen=...) and "
           "evaluate(seen=...): each query row's user, read from the queries' `user_column`, has "
           "these items left out. Raises ValueError for a missing or non-id column or a negative "
           "id.");

  nb::class_<rt::Recommender>(m, "Recommender",
                              "Top-k items for queries over a whole item catalogue.")
      .def_prop_ro("num_items", &rt::Recommender::num_items,
                   "The catalogue's size N: its distinct item ids.")
      .def_prop_ro("item_column", &rt::Recommender::item_column,
                   "The item id column the catalogue and evaluate() read (the retrieval task's "
                   "target, or PopularityRecommender's item_column).")
      .def_prop_ro(
          "item_ids", [](const rt::Recommender& r) { return to_numpy(r.item_ids()); },
          "The catalogue's item ids, int64 [N], ascending: recommend() answers with them.")
      .def_prop_ro(
          "item_vectors", [](const rt::Recommender& r) { return to_numpy(r.item_vectors()); },
          "The catalogue's vectors, float32 [N, d], in item_ids' order: an item's score is the "
          "inner product of its row with a query vector (build an AnnIndex over them for "
          "use_index).")
      .def_prop_ro("has_index", &rt::Recommender::has_index,
                   "Whether use_index() set an index that recommend() serves from.")
      .def(
          "use_index",
          [](rt::Recommender& r, std::shared_ptr<rt::ItemIndex> index) {
            r.use_index(std::move(index));
          },
          "index"_a.none(),
          "Serves recommend() from `index` (e.g. an AnnIndex over item_vectors, in their "
          "order); None: back to the exact scan. evaluate() stays exact.")
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
          "queries"_a,
          "The query vectors, float32 [Q, d], of the Q rows of the Dataset `queries`, scored "
          "against item_vectors by inner product: TopKRecommender's query tower output "
          "(L2-normalised with the task's l2_normalization, divided by its temperature; a "
          "next-item model's with a 1 appended for the item bias), the popularity baseline's "
          "ones [Q, 1]. TopKRecommender raises ValueError for a dataset without rows.")
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
          "out. From the index when use_index() set one, else exact.")
      .def(
          "recommend_exact",
          [](const rt::Recommender& r, const Dataset& queries, std::int64_t k, nb::handle seen) {
            const rt::SeenItems* s = seen_of(seen);
            rt::TopK top;
            {
              nb::gil_scoped_release release;
              top = r.recommend_exact(queries, k, s);
            }
            return top_k_to_python(top);
          },
          "queries"_a, "k"_a = 10, "seen"_a = nb::none(),
          "As recommend(), always by the exact scan.")
      .def(
          "index_recall",
          [](const rt::Recommender& r, const Dataset& queries, std::int64_t k, nb::handle seen) {
            const rt::SeenItems* s = seen_of(seen);
            nb::gil_scoped_release release;
            return r.index_recall(queries, k, s);
          },
          "queries"_a, "k"_a = 10, "seen"_a = nb::none(),
          "The index's recall of the exact top k on these queries (recall_against).")
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

  nb::class_<rt::TopKRecommender, rt::Recommender>(
      m, "TopKRecommender",
      "Recommends with a trained retrieval model (Merlin's to_top_k_recommender): the item "
      "tower's vectors computed once for the catalogue, each query embedded by the query tower, "
      "exact top k by the score the task trains (TwoTowerModel, MatrixFactorizationModel: the "
      "towers' dot product; YoutubeDNNRetrievalModel: the next-item logit over the catalogue).")
      .def(
          "__init__",
          [](rt::TopKRecommender* p, const Model& model, const Dataset& items,
             std::int64_t batch_size) {
            nb::gil_scoped_release release;
            new (p) rt::TopKRecommender(model, items, {.batch_size = batch_size});
          },
          "model"_a, "items"_a, "batch_size"_a = 4096,
          "A recommender over the built (trained or loaded) Model `model`, which has one "
          "ItemRetrievalTask over \"query\" and \"candidate\" towers or one "
          "NextItemPredictionTask. The catalogue: every distinct item id of the Dataset `items` "
          "(the task's target column), with the item features of its first row; the towers run "
          "in batches of `batch_size` rows (> 0). Raises ValueError naming what is missing or "
          "wrong.");
  nb::class_<rt::PopularityRecommender, rt::Recommender>(
      m, "PopularityRecommender",
      "The popularity baseline: every query gets the catalogue's items by their count in the "
      "training data (most frequent first, ties to the lower id); `seen` items left out.")
      .def(nb::init<const Dataset&, const std::string&>(), "train"_a, "item_column"_a,
           "Every query gets the most frequent items of the Dataset `train`'s item id column "
           "`item_column` (scalar int32 or int64); the catalogue: its distinct ids. Raises "
           "ValueError for a missing or non-id column or a negative id.");
}

}  // namespace recblocks::python
