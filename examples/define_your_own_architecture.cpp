// The seed notebook's model in a few lines of the C++ API (the README's
// example): the custom DLRM built from blocks, trained on MovieLens,
// evaluated, saved and loaded back. `recblocks demo` runs the whole
// notebook cell by cell.
//
//   build/examples/define_your_own_architecture DATA_DIR [ML_100K_ZIP_OR_DIR]
#include <cstdlib>

#include "recblocks/recblocks.h"

namespace rb = recblocks;
using rb::Tags;

int main(int argc, char** argv) try {
  const std::filesystem::path data = argc > 1 ? argv[1] : "data";
  auto [train, valid] =
      rb::datasets::movielens("ml-100k", data, {.source = argc > 2 ? argv[2] : ""});
  auto sub_schema =
      train.schema().select_by_name({"userId", "movieId", "title", "gender", "TE_zipcode_rating",
                                     "TE_movieId_rating", "rating_binary"});

  auto continuous = rb::ContinuousFeatures::from_schema(sub_schema, Tags::CONTINUOUS);
  auto deep_continuous = continuous.connect(rb::MLPBlock({64}));
  auto embeddings = rb::EmbeddingFeatures::from_schema(sub_schema);  // dim 64
  auto dlrm_inputs =
      rb::ParallelBlock({{"embeddings", embeddings}, {"deep_continuous", deep_continuous}});
  auto interaction = dlrm_inputs.connect_with_shortcut(
      rb::DotProductInteractionBlock(),
      {.shortcut_filter = rb::Filter("deep_continuous"), .aggregation = "concat"});
  auto deep = interaction.connect(rb::MLPBlock({64, 128, 512}));

  auto task = rb::BinaryClassificationTask(
      sub_schema.select_by_tag(Tags::TARGET).column_names()[0],
      {.metrics = {rb::metrics::AUC()}, .pre = rb::LogitsTemperatureScaler(2.0)});
  rb::Model model = deep.connect(task);

  model.compile(rb::optim::Adam());
  model.fit(train.select(sub_schema), {.batch_size = 1024, .epochs = 5});
  auto scores = model.evaluate(valid.select(sub_schema), {.batch_size = 1024});
  fmt::print("validation auc {:.4f}, loss {:.4f}\n",
             scores["rating_binary/binary_classification_task/auc"], scores["loss"]);

  model.save(data / "custom_dlrm");
  auto again = rb::Model::load(data / "custom_dlrm");
  const rb::Batch batch(valid.select(sub_schema).slice_rows(0, 8));
  const bool same = rb::allclose(again.predict(batch).at(task.name()),
                                 model.predict(batch).at(task.name()), 0, 0);
  fmt::print("loaded model predicts {}\n", same ? "identically" : "DIFFERENTLY");
  return same ? EXIT_SUCCESS : EXIT_FAILURE;
} catch (const rb::Error& e) {
  fmt::print(stderr, "define_your_own_architecture: error: {}\n", e.what());
  return EXIT_FAILURE;
}
