// TEMPORARY (issue 20): a copy of recblocks::quoted_excerpt, which helper A
// adds to include/recblocks/core/error.h with this signature. At the merge,
// delete this header and its includes: the callers (inside namespace
// recblocks::io) then find recblocks::quoted_excerpt unqualified.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace recblocks::io {
namespace {

inline std::string quoted_excerpt(std::string_view user_text, std::size_t max_chars = 200) {
  std::string out = "'";
  std::size_t shown = 0, i = 0;
  while (i < user_text.size() && shown < max_chars) {
    const auto c = static_cast<unsigned char>(user_text[i]);
    std::size_t len = 0;
    if (c >= 0x20 && c < 0x7F) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xF4) {
      const std::size_t want = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      bool ok = i + want <= user_text.size();
      for (std::size_t k = 1; ok && k < want; ++k)
        ok = (static_cast<unsigned char>(user_text[i + k]) & 0xC0) == 0x80;
      if (ok) len = want;
    }
    if (len == 0) {
      out += fmt::format("\\x{:02X}", c);
      ++i;
    } else {
      if (c == '\\' || c == '\'') out += '\\';
      out.append(user_text.substr(i, len));
      i += len;
    }
    ++shown;
  }
  out += "'";
  if (i < user_text.size()) out += fmt::format("... ({} bytes)", user_text.size());
  return out;
}

}  // namespace
}  // namespace recblocks::io
