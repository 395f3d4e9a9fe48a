#include "recblocks/core/error.h"

#include <fmt/format.h>

namespace recblocks {
namespace {

// The length of the well-formed UTF-8 sequence at text[i] (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), 0 if there is none,
// and its code point.
std::size_t utf8_sequence(std::string_view text, std::size_t i, char32_t& code_point) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  }
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  }
  char32_t cp = lead & (0xFF >> (length + 1));
  for (std::size_t k = 1; k < length; ++k) cp = (cp << 6) | (byte(k) & 0x3F);
  code_point = cp;
  return length;
}

// Code points that would break a one-line message or hide what it says:
// C0 and C1 controls, DEL, line and paragraph separators, bidi controls and
// the replacement character (which reads as "undecodable").
bool is_unprintable(char32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029 ||
         (c >= 0x200E && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069) || c == 0xFFFD;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  char32_t code_point = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence(text, i, code_point);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string quoted_excerpt(std::string_view user_text, std::size_t max_chars) {
  std::string body;
  std::size_t shown = 0;  // characters of body
  std::size_t i = 0;
  while (i < user_text.size()) {
    char32_t code_point = 0;
    const std::size_t length = utf8_sequence(user_text, i, code_point);
    const bool printable = length > 0 && !is_unprintable(code_point);
    const std::size_t bytes = length > 0 ? length : 1;
    const std::size_t width = printable ? 1 : 4 * bytes;
    if (shown + width > max_chars) break;
    if (printable) {
      body.append(user_text.substr(i, bytes));
    } else {
      for (std::size_t k = 0; k < bytes; ++k) {
        body += fmt::format("\\x{:02X}", static_cast<unsigned char>(user_text[i + k]));
      }
    }
    shown += width;
    i += bytes;
  }
  std::string out = "'" + body + "'";
  if (i < user_text.size()) out += fmt::format("... ({} bytes)", user_text.size());
  return out;
}

}  // namespace recblocks
