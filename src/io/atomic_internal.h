// Helpers shared by the atomic writers in io/ (not part of the public API).
#pragma once

#include <filesystem>
#include <string_view>

namespace recblocks::io::detail {

// A fresh name beside `target`: "<dir>/.<name>.<kind>-<pid>-<counter>".
// Hidden, so a directory listing or a glob for "*.npy" never picks it up.
std::filesystem::path temporary_sibling(const std::filesystem::path& target, std::string_view kind);

// Renames the complete file `from` over `to` and fsyncs the directory, so
// the new name survives a crash. Removes `from` and throws Error naming
// `to` on failure.
void rename_into_place(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace recblocks::io::detail
