// Merlin's schema files: tensorflow-metadata's Schema message as merlin-core
// 23.08 (and NVTabular through it) writes it, in protobuf text format
// (schema.pbtxt) or proto-JSON (schema.json). Schema::load / from_json /
// save reach these; include/recblocks/schema/schema.h documents the mapping.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "recblocks/schema/schema.h"

namespace recblocks::merlin {

// Reading; `source` names the file in errors.
Schema from_proto_json(const nlohmann::json& j, std::string_view source);
Schema from_text(std::string_view text, std::string_view source);

// Writing, in what merlin-core 23.08's TensorflowMetadata reads. Throws
// ValueError for what Merlin cannot hold (a bfloat16 column, tags that
// Merlin's TagSet refuses together).
std::string to_text(const Schema& schema);
nlohmann::ordered_json to_proto_json(const Schema& schema);

}  // namespace recblocks::merlin

namespace recblocks::schema_detail {

// An integer from JSON: a number, a whole float (1e6) or a string of digits
// (proto-JSON writes int64 as "6041"). ValueError names `where`.
std::int64_t json_int(const nlohmann::json& j, std::string_view where);

}  // namespace recblocks::schema_detail
