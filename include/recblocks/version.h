#pragma once

namespace recblocks {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace recblocks
