#include "schema/text_proto.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "recblocks/core/error.h"

namespace recblocks::text_proto {
namespace {

using nlohmann::json;

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : c - 'A' + 10;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string where(const Position& at) {
  return fmt::format("line {}, column {}", at.line, at.column);
}

// The tokens of the text format, read straight into the tree of fields.
class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  std::vector<Field> parse() {
    std::vector<Field> fields = parse_fields('\0', 0);
    return fields;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void advance() {
    if (text_[pos_] == '\n') {
      ++here_.line;
      here_.column = 1;
    } else {
      ++here_.column;
    }
    ++pos_;
  }
  void skip_space() {
    while (!at_end()) {
      const char c = peek();
      if (c == '#') {
        while (!at_end() && peek() != '\n') advance();
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
        advance();
      } else {
        return;
      }
    }
  }

  // What comes next, for messages: "end of file" or the next few characters.
  std::string next() const {
    if (at_end()) return "end of file";
    std::size_t n = 0;
    while (pos_ + n < text_.size() && n < 24) {
      const char c = text_[pos_ + n];
      if (n > 0 && (c == ' ' || c == '\n' || c == '\t' || c == '\r')) break;
      ++n;
      if (!(is_letter(c) || is_digit(c) || c == '.')) break;  // one punctuation character
    }
    return quoted_excerpt(text_.substr(pos_, n), 40);
  }

  [[noreturn]] void error(const Position& at, std::string_view message) const {
    throw ValueError(
        fmt::format("{}: not valid protobuf text at {}: {}", source_, where(at), message));
  }

  // Fields until `close` ('}' or '>'), or the end of the text for '\0'.
  std::vector<Field> parse_fields(char close, int depth) {
    std::vector<Field> fields;
    while (true) {
      skip_space();
      if (at_end()) {
        if (close == '\0') return fields;
        error(here_, fmt::format("expected a field name or '{}', got end of file (a message "
                                 "opened above is not closed)",
                                 close));
      }
      if (close != '\0' && peek() == close) {
        advance();
        return fields;
      }
      parse_field(fields, depth);
    }
  }

  std::string field_name() {
    if (peek() == '[') {
      // An extension or an expanded Any: [type.googleapis.com/google.protobuf.Struct]
      const Position start = here_;
      advance();
      skip_space();
      std::string name = "[";
      while (!at_end() && (is_letter(peek()) || is_digit(peek()) || peek() == '.' ||
                           peek() == '/' || peek() == '-')) {
        name += peek();
        advance();
      }
      skip_space();
      if (name.size() == 1 || peek() != ']') {
        error(name.size() == 1 ? here_ : start,
              fmt::format("expected a type name such as "
                          "[type.googleapis.com/google.protobuf.Struct], got {}",
                          next()));
      }
      advance();
      return name + "]";
    }
    if (!is_letter(peek())) {
      error(here_, fmt::format("expected a field name, got {}", next()));
    }
    return identifier();
  }

  std::string identifier() {
    std::string name;
    while (!at_end() && (is_letter(peek()) || is_digit(peek()))) {
      name += peek();
      advance();
    }
    return name;
  }

  void parse_field(std::vector<Field>& out, int depth) {
    Field f;
    f.at = here_;
    f.name = field_name();
    skip_space();
    bool colon = false;
    if (peek() == ':') {
      colon = true;
      advance();
      skip_space();
    }
    const auto element = [&](Field& e) {
      if (peek() == '{' || peek() == '<') {
        parse_message(e, depth);
      } else if (!colon) {
        error(here_, fmt::format("expected ':' or '{{' after the field name {}, got {}",
                                 quoted_excerpt(f.name, 80), next()));
      } else {
        parse_scalar(e);
      }
    };
    if (peek() == '[') {
      // A list: the field once per element.
      const Position list_at = here_;
      advance();
      skip_space();
      if (peek() == ']') {
        advance();
      } else {
        while (true) {
          skip_space();
          Field e;
          e.name = f.name;
          e.at = f.at;
          element(e);
          out.push_back(std::move(e));
          skip_space();
          if (peek() == ',') {
            advance();
            continue;
          }
          if (peek() == ']') {
            advance();
            break;
          }
          error(here_, fmt::format("expected ',' or ']' in the list of {} opened at {}, got {}",
                                   quoted_excerpt(f.name, 80), where(list_at), next()));
        }
      }
    } else {
      element(f);
      out.push_back(std::move(f));
    }
    skip_space();
    if (peek() == ';' || peek() == ',') advance();
  }

  void parse_message(Field& f, int depth) {
    if (depth + 1 > kMaxDepth) {
      error(here_, fmt::format("messages nest more than {} deep", kMaxDepth));
    }
    const char close = peek() == '{' ? '}' : '>';
    advance();
    f.is_message = true;
    f.value_at = here_;
    f.fields = parse_fields(close, depth + 1);
  }

  void parse_scalar(Field& f) {
    f.value_at = here_;
    if (peek() == '"' || peek() == '\'') {
      f.token = Token::kString;
      while (peek() == '"' || peek() == '\'') {
        string_literal(f.text);
        skip_space();
      }
      return;
    }
    if (peek() == '-') {
      f.negative = true;
      advance();
      skip_space();
      if (!(is_digit(peek()) || (peek() == '.' && is_digit(peek(1))) || is_letter(peek()))) {
        error(here_, fmt::format("expected a number after '-', got {}", next()));
      }
    }
    if (is_digit(peek()) || (peek() == '.' && is_digit(peek(1)))) {
      f.token = Token::kNumber;
      f.text = number();
      return;
    }
    if (is_letter(peek())) {
      f.token = Token::kIdentifier;
      f.text = identifier();
      return;
    }
    error(here_, fmt::format("expected a value (a string, a number or a name) for {}, got {}",
                             quoted_excerpt(f.name, 80), next()));
  }

  std::string number() {
    const Position start = here_;
    const std::size_t begin = pos_;
    if (peek() == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      advance();
      advance();
      if (!is_hex(peek())) error(start, "a hexadecimal number needs digits after 0x");
      while (is_hex(peek())) advance();
    } else {
      while (is_digit(peek())) advance();
      if (peek() == '.') {
        advance();
        while (is_digit(peek())) advance();
      }
      if (peek() == 'e' || peek() == 'E') {
        advance();
        if (peek() == '+' || peek() == '-') advance();
        if (!is_digit(peek())) error(start, "an exponent needs digits");
        while (is_digit(peek())) advance();
      }
      if (peek() == 'f' || peek() == 'F') advance();
    }
    if (is_letter(peek()) || is_digit(peek()) || peek() == '.') {
      while (pos_ < text_.size() && pos_ - begin < 40 &&
             (is_letter(peek()) || is_digit(peek()) || peek() == '.')) {
        advance();
      }
      error(start,
            fmt::format("{} is not a number", quoted_excerpt(text_.substr(begin, pos_ - begin))));
    }
    return std::string(text_.substr(begin, pos_ - begin));
  }

  // One quoted literal, appended to `out` with its escapes resolved.
  void string_literal(std::string& out) {
    const Position start = here_;
    const char quote = peek();
    advance();
    while (true) {
      if (at_end() || peek() == '\n') {
        error(start, "the string is not closed on its line");
      }
      const char c = peek();
      if (c == quote) {
        advance();
        return;
      }
      if (c != '\\') {
        out += c;
        advance();
        continue;
      }
      const Position escape_at = here_;
      advance();
      if (at_end()) error(start, "the string is not closed on its line");
      const char e = peek();
      advance();
      switch (e) {
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '?': out += '?'; break;
        case 'x':
        case 'X': {
          if (!is_hex(peek())) error(escape_at, "\\x needs one or two hexadecimal digits");
          int v = 0;
          for (int k = 0; k < 2 && is_hex(peek()); ++k) {
            v = v * 16 + hex_value(peek());
            advance();
          }
          out += static_cast<char>(v);
          break;
        }
        case 'u':
        case 'U': {
          char32_t cp = code_point(e == 'u' ? 4 : 8, escape_at);
          if (cp >= 0xD800 && cp <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
            // A UTF-16 surrogate pair: \uD83D\uDE00.
            advance();
            advance();
            const char32_t low = code_point(4, escape_at);
            if (low < 0xDC00 || low > 0xDFFF) error(escape_at, "a lone UTF-16 surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            error(escape_at, fmt::format("\\{} escape of U+{:X} is not a Unicode character", e,
                                         static_cast<std::uint32_t>(cp)));
          }
          append_utf8(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 0; k < 2 && peek() >= '0' && peek() <= '7'; ++k) {
              v = v * 8 + (peek() - '0');
              advance();
            }
            if (v > 255) error(escape_at, fmt::format("octal escape \\{:o} is over \\377", v));
            out += static_cast<char>(v);
            break;
          }
          error(escape_at,
                fmt::format("unknown escape {} in a string", quoted_excerpt(std::string{'\\', e})));
      }
    }
  }

  char32_t code_point(int digits, const Position& at) {
    char32_t cp = 0;
    for (int k = 0; k < digits; ++k) {
      if (!is_hex(peek()))
        error(at, fmt::format("a \\u escape needs {} hexadecimal digits", digits));
      cp = cp * 16 + static_cast<char32_t>(hex_value(peek()));
      advance();
    }
    return cp;
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
  Position here_;
};

// A scalar for messages: the token as written.
std::string shown(const Field& f) {
  if (f.is_message) return "a message { ... }";
  if (f.token == Token::kString) return "a string " + quoted_excerpt(f.text, 80);
  return quoted_excerpt((f.negative ? "-" : "") + f.text, 80);
}

enum class Integer : std::uint8_t { kOk, kOverflow, kInvalid };

// The magnitude of an integer literal: decimal, 0x hex or 0 octal.
Integer integer_magnitude(std::string_view text, std::uint64_t& out) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  } else if (text.size() > 1 && text[0] == '0') {
    base = 8;
    text.remove_prefix(1);
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  if (ec == std::errc::result_out_of_range) return Integer::kOverflow;
  return ec == std::errc() && end == text.data() + text.size() ? Integer::kOk : Integer::kInvalid;
}

// The protobuf wire format of google.protobuf.Struct, Value and ListValue
// (field numbers from google/protobuf/struct.proto).
class WireReader {
 public:
  WireReader(std::string_view bytes, std::size_t base, const Document& doc, const Position& at,
             std::string_view what)
      : bytes_(bytes), base_(base), doc_(doc), at_(at), what_(what) {}

  bool at_end() const { return pos_ >= bytes_.size(); }

  [[noreturn]] void error(std::string_view message) const {
    doc_.fail(at_, fmt::format("{}: not a serialized google.protobuf.Struct: {} (byte {} of the "
                               "value)",
                               what_, message, base_ + pos_));
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_end()) error("a varint is cut short");
      const auto b = static_cast<unsigned char>(bytes_[pos_++]);
      if (shift == 63 && b > 1) error("a varint is over 64 bits");
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    error("a varint is over 10 bytes");
  }

  // The next field's number and wire type.
  std::pair<std::uint64_t, int> tag() {
    const std::uint64_t t = varint();
    if ((t >> 3) == 0) error("field number 0");
    return {t >> 3, static_cast<int>(t & 7)};
  }

  WireReader sub() {
    const std::uint64_t n = varint();
    if (n > bytes_.size() - pos_) {
      error(fmt::format("a length of {} runs past the {} bytes left", n, bytes_.size() - pos_));
    }
    WireReader r(bytes_.substr(pos_, n), base_ + pos_, doc_, at_, what_);
    pos_ += n;
    return r;
  }

  std::string_view rest() const { return bytes_.substr(pos_); }

  double fixed64() {
    if (bytes_.size() - pos_ < 8) error("a 64-bit number is cut short");
    std::uint64_t bits = 0;
    for (int k = 7; k >= 0; --k) bits = (bits << 8) | static_cast<unsigned char>(bytes_[pos_ + k]);
    pos_ += 8;
    double d = 0;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }

  void skip(int wire_type) {
    switch (wire_type) {
      case 0: (void)varint(); return;
      case 1:
        if (bytes_.size() - pos_ < 8) error("a 64-bit field is cut short");
        pos_ += 8;
        return;
      case 2: (void)sub(); return;
      case 5:
        if (bytes_.size() - pos_ < 4) error("a 32-bit field is cut short");
        pos_ += 4;
        return;
      default: error(fmt::format("wire type {} (groups or invalid)", wire_type));
    }
  }

  void expect(int wire_type, int expected, std::uint64_t field) {
    if (wire_type != expected) {
      error(fmt::format("field {} has wire type {}, expected {}", field, wire_type, expected));
    }
  }

  std::size_t pos() const { return base_ + pos_; }

 private:
  std::string_view bytes_;
  std::size_t base_;
  const Document& doc_;
  const Position& at_;
  std::string_view what_;
  std::size_t pos_ = 0;
};

json number_json(double v) {
  // Whole numbers within 2^53 are exact as integers: JSON gets 6041, not 6041.0.
  if (std::trunc(v) == v && std::fabs(v) <= 9007199254740992.0) {
    return static_cast<std::int64_t>(v);
  }
  return v;
}

json wire_struct(WireReader r, int depth);

json wire_value(WireReader r, int depth) {
  if (depth > kMaxDepth) r.error(fmt::format("messages nest more than {} deep", kMaxDepth));
  std::optional<json> value;
  while (!r.at_end()) {
    const auto [field, type] = r.tag();
    switch (field) {
      case 1:
        r.expect(type, 0, field);
        (void)r.varint();
        value = nullptr;
        break;
      case 2: {
        r.expect(type, 1, field);
        const double d = r.fixed64();
        if (!std::isfinite(d)) r.error(fmt::format("number_value {} is not finite", d));
        value = number_json(d);
        break;
      }
      case 3: {
        r.expect(type, 2, field);
        const std::string_view s = r.sub().rest();
        if (!is_valid_utf8(s)) r.error("a string_value is not valid UTF-8");
        value = std::string(s);
        break;
      }
      case 4:
        r.expect(type, 0, field);
        value = r.varint() != 0;
        break;
      case 5:
        r.expect(type, 2, field);
        value = wire_struct(r.sub(), depth + 1);  // struct_value
        break;
      case 6: {
        r.expect(type, 2, field);
        if (depth + 1 > kMaxDepth)
          r.error(fmt::format("messages nest more than {} deep", kMaxDepth));
        WireReader list = r.sub();
        json array = json::array();
        while (!list.at_end()) {
          const auto [f, t] = list.tag();
          if (f != 1) {
            list.skip(t);
            continue;
          }
          list.expect(t, 2, f);
          array.push_back(wire_value(list.sub(), depth + 2));  // list_value { values
        }
        value = std::move(array);
        break;
      }
      default: r.skip(type);
    }
  }
  if (!value) r.error("a Value with no kind");
  return std::move(*value);
}

// `depth`: the message depth the Struct has in the text form, so that a
// Struct reads from bytes exactly when it would from text.
json wire_struct(WireReader r, int depth) {
  if (depth > kMaxDepth) r.error(fmt::format("messages nest more than {} deep", kMaxDepth));
  json object = json::object();
  while (!r.at_end()) {
    const std::size_t entry_at = r.pos();
    const auto [field, type] = r.tag();
    if (field != 1) {
      r.skip(type);
      continue;
    }
    r.expect(type, 2, field);
    WireReader entry = r.sub();
    std::string key;
    std::optional<json> value;
    while (!entry.at_end()) {
      const auto [f, t] = entry.tag();
      if (f == 1) {
        entry.expect(t, 2, f);
        key = std::string(entry.sub().rest());
        if (!is_valid_utf8(key)) entry.error("a key is not valid UTF-8");
      } else if (f == 2) {
        entry.expect(t, 2, f);
        value = wire_value(entry.sub(), depth + 2);  // fields { value
      } else {
        entry.skip(t);
      }
    }
    if (!value) entry.error(fmt::format("the entry {} has no value", quoted_excerpt(key, 80)));
    if (object.contains(key)) {
      r.error(fmt::format("the key {} appears twice (entry at byte {})", quoted_excerpt(key, 80),
                          entry_at));
    }
    object[key] = std::move(*value);
  }
  return object;
}

}  // namespace

Document::Document(std::string_view text, std::string source) : source_(std::move(source)) {
  root_ = Parser(text, source_).parse();
}

void Document::fail(const Position& at, std::string_view message) const {
  throw ValueError(fmt::format("{}: {}: {}", source_, where(at), message));
}

std::int64_t Document::int64(const Field& f, std::string_view what) const {
  if (f.is_message || f.token != Token::kNumber) {
    fail(f.is_message ? f.at : f.value_at,
         fmt::format("{}: expected an integer, got {}", what, shown(f)));
  }
  std::uint64_t magnitude = 0;
  const Integer parsed = integer_magnitude(f.text, magnitude);
  if (parsed == Integer::kInvalid) {
    fail(f.value_at, fmt::format("{}: expected an integer, got {}", what, shown(f)));
  }
  const std::uint64_t limit =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + (f.negative ? 1 : 0);
  if (parsed == Integer::kOverflow || magnitude > limit) {
    fail(f.value_at, fmt::format("{}: {} is out of range, expected an integer from {} to {}", what,
                                 shown(f), std::numeric_limits<std::int64_t>::min(),
                                 std::numeric_limits<std::int64_t>::max()));
  }
  if (!f.negative) return static_cast<std::int64_t>(magnitude);
  return magnitude == limit ? std::numeric_limits<std::int64_t>::min()
                            : -static_cast<std::int64_t>(magnitude);
}

double Document::number(const Field& f, std::string_view what) const {
  const double sign = f.negative ? -1.0 : 1.0;
  if (!f.is_message && f.token == Token::kIdentifier) {
    std::string lower = f.text;
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower == "inf" || lower == "infinity")
      return sign * std::numeric_limits<double>::infinity();
    if (lower == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  if (f.is_message || f.token != Token::kNumber) {
    fail(f.is_message ? f.at : f.value_at,
         fmt::format("{}: expected a number, got {}", what, shown(f)));
  }
  std::uint64_t magnitude = 0;
  if (f.text.size() > 2 && (f.text[1] == 'x' || f.text[1] == 'X')) {
    if (integer_magnitude(f.text, magnitude) != Integer::kOk) {
      fail(f.value_at, fmt::format("{}: {} is beyond 64 bits", what, shown(f)));
    }
    return sign * static_cast<double>(magnitude);
  }
  std::string_view text = f.text;
  if (text.back() == 'f' || text.back() == 'F') text.remove_suffix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    fail(f.value_at, fmt::format("{}: {} is beyond the range of a double", what, shown(f)));
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    fail(f.value_at, fmt::format("{}: expected a number, got {}", what, shown(f)));
  }
  return sign * v;
}

bool Document::boolean(const Field& f, std::string_view what) const {
  if (!f.is_message && !f.negative) {
    if (f.token == Token::kIdentifier) {
      if (f.text == "true" || f.text == "True" || f.text == "t") return true;
      if (f.text == "false" || f.text == "False" || f.text == "f") return false;
    } else if (f.token == Token::kNumber && (f.text == "1" || f.text == "0")) {
      return f.text == "1";
    }
  }
  fail(f.is_message ? f.at : f.value_at,
       fmt::format("{}: expected true or false, got {}", what, shown(f)));
}

const std::string& Document::bytes(const Field& f, std::string_view what) const {
  if (f.is_message || f.token != Token::kString) {
    fail(f.is_message ? f.at : f.value_at,
         fmt::format("{}: expected a quoted string, got {}", what, shown(f)));
  }
  return f.text;
}

const std::string& Document::string(const Field& f, std::string_view what) const {
  const std::string& s = bytes(f, what);
  if (!is_valid_utf8(s)) {
    fail(f.value_at, fmt::format("{}: the string {} is not valid UTF-8", what, quoted_excerpt(s)));
  }
  return s;
}

std::string Document::enumeration(const Field& f, std::string_view what) const {
  if (!f.is_message && f.token == Token::kIdentifier && !f.negative) return f.text;
  if (!f.is_message && f.token == Token::kNumber) {
    return std::to_string(int64(f, what));
  }
  fail(f.is_message ? f.at : f.value_at,
       fmt::format("{}: expected an enum value name, got {}", what, shown(f)));
}

const std::vector<Field>& Document::message(const Field& f, std::string_view what) const {
  if (!f.is_message) {
    fail(f.value_at, fmt::format("{}: expected a message {{ ... }}, got {}", what, shown(f)));
  }
  return f.fields;
}

const Field* Document::single(const std::vector<Field>& fields, std::string_view name,
                              std::string_view what) const {
  const Field* found = nullptr;
  for (const Field& f : fields) {
    if (f.name != name) continue;
    if (found != nullptr) {
      fail(f.at, fmt::format("{}: the field '{}' is given twice (first at line {}); it holds one "
                             "value",
                             what, name, found->at.line));
    }
    found = &f;
  }
  return found;
}

nlohmann::json Document::struct_from_text(const std::vector<Field>& fields,
                                          std::string_view what) const {
  return struct_from_text(fields, what, 0);
}

nlohmann::json Document::struct_from_text(const std::vector<Field>& fields, std::string_view what,
                                          int depth) const {
  json object = json::object();
  for (const Field& entry : fields) {
    if (entry.name != "fields") {
      fail(entry.at, fmt::format("{}: unknown field {} in a google.protobuf.Struct; expected "
                                 "'fields'",
                                 what, quoted_excerpt(entry.name, 80)));
    }
    const std::vector<Field>& parts = message(entry, what);
    for (const Field& p : parts) {
      if (p.name != "key" && p.name != "value") {
        fail(p.at, fmt::format("{}: unknown field {} in a Struct entry; expected 'key' and 'value'",
                               what, quoted_excerpt(p.name, 80)));
      }
    }
    const Field* key = single(parts, "key", what);
    const Field* value = single(parts, "value", what);
    if (key == nullptr) fail(entry.at, fmt::format("{}: a Struct entry without a key", what));
    const std::string& k = string(*key, what);
    if (value == nullptr) {
      fail(entry.at, fmt::format("{}: the Struct entry {} has no value", what, quoted_excerpt(k)));
    }
    if (object.contains(k)) {
      fail(key->value_at, fmt::format("{}: the key {} appears twice", what, quoted_excerpt(k)));
    }
    object[k] = value_from_text(*value, what, depth + 1);
  }
  return object;
}

nlohmann::json Document::value_from_text(const Field& value, std::string_view what,
                                         int depth) const {
  const std::vector<Field>& fields = message(value, what);
  static constexpr std::string_view kKinds[] = {"null_value", "number_value", "string_value",
                                                "bool_value", "struct_value", "list_value"};
  const Field* kind = nullptr;
  for (const Field& f : fields) {
    if (std::find(std::begin(kKinds), std::end(kKinds), f.name) == std::end(kKinds)) {
      fail(f.at, fmt::format("{}: unknown field {} in a google.protobuf.Value; expected one of "
                             "null_value, number_value, string_value, bool_value, struct_value, "
                             "list_value",
                             what, quoted_excerpt(f.name, 80)));
    }
    if (kind != nullptr) {
      fail(f.at,
           fmt::format("{}: a Value holds one kind, got {} and {}", what, kind->name, f.name));
    }
    kind = &f;
  }
  if (kind == nullptr) {
    fail(value.at, fmt::format("{}: a Value with no kind (expected one of null_value, "
                               "number_value, string_value, bool_value, struct_value, "
                               "list_value)",
                               what));
  }
  const Field& f = *kind;
  if (f.name == "null_value") {
    const std::string e = enumeration(f, what);
    if (e != "NULL_VALUE" && e != "0") {
      fail(f.value_at, fmt::format("{}: null_value is NULL_VALUE, got {}", what, shown(f)));
    }
    return nullptr;
  }
  if (f.name == "number_value") {
    const double v = number(f, what);
    if (!std::isfinite(v)) {
      fail(f.value_at,
           fmt::format("{}: number_value {} is not finite (properties are JSON)", what, shown(f)));
    }
    return number_json(v);
  }
  if (f.name == "string_value") return string(f, what);
  if (f.name == "bool_value") return boolean(f, what);
  if (depth + 1 > kMaxDepth) {
    fail(f.at, fmt::format("{}: values nest more than {} deep", what, kMaxDepth));
  }
  if (f.name == "struct_value") return struct_from_text(message(f, what), what, depth + 1);
  json array = json::array();
  for (const Field& v : message(f, what)) {
    if (v.name != "values") {
      fail(v.at, fmt::format("{}: unknown field {} in a google.protobuf.ListValue; expected "
                             "'values'",
                             what, quoted_excerpt(v.name, 80)));
    }
    array.push_back(value_from_text(v, what, depth + 1));
  }
  return array;
}

nlohmann::json Document::struct_from_wire(std::string_view bytes, const Position& at,
                                          std::string_view what, int depth) const {
  return wire_struct(WireReader(bytes, 0, *this, at, what), depth);
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20 || u == 0x7F) {
          out += fmt::format("\\{:03o}", u);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace recblocks::text_proto
