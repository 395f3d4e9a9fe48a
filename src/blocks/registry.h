// The explicit list of block types (registry.cpp calls each of these once).
#pragma once

namespace recblocks {

void register_combinators();         // combinators.cpp
void register_aggregations();        // aggregation.cpp
void register_features();            // features.cpp
void register_transformations();     // transformations.cpp
void register_layers();              // mlp.cpp: MLPBlock
void register_interaction_layers();  // interaction.cpp: dot product, FM, CrossBlock
void register_experts();             // experts.cpp: CGCBlock (MMOEBlock is one)
void register_crosses();             // crosses.cpp: HashedCrossFeatures
void register_retrieval_blocks();    // retrieval.cpp: ItemRetrievalScorer

}  // namespace recblocks
