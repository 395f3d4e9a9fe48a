// Helpers for block configs (JSON): reading options with clear errors.
#pragma once

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string_view>

namespace recblocks::config {

// Throws ValueError naming the first key of `config` not in `known` (and
// listing the known ones), so a typo in a model file is caught.
void check_keys(const nlohmann::json& config, std::string_view type,
                std::initializer_list<std::string_view> known);

}  // namespace recblocks::config
