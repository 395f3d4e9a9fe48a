#include "recblocks/io/json.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/io/paths.h"

namespace recblocks::io {
namespace {

using nlohmann::json;

// Builds the document through nlohmann's SAX interface, which, unlike
// json::parse, reports where every error is (a number that overflows a
// double, "1e400", included) and lets a key given twice in one object be
// refused instead of the last one silently winning.
// (clang-tidy 14 sees an exception escaping its implicit members; they only
// destroy standard containers of json values, which does not throw.)
class Builder final : public nlohmann::json_sax<json> {  // NOLINT(bugprone-exception-escape)
 public:
  bool null() override { return add(nullptr); }
  bool boolean(bool value) override { return add(value); }
  bool number_integer(number_integer_t value) override { return add(value); }
  bool number_unsigned(number_unsigned_t value) override { return add(value); }
  bool number_float(number_float_t value, const string_t&) override { return add(value); }
  bool string(string_t& value) override { return add(std::move(value)); }
  bool binary(binary_t& value) override { return add(json::binary(std::move(value))); }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return open(json::object());
  }
  bool key(string_t& value) override {
    if (!keys_.back().insert(value).second) {
      duplicate_ = value;
      return false;
    }
    key_ = std::move(value);
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& error) override {
    position_ = position;
    token_size_ = last_token.size();
    error_ = error.what();
    return false;
  }

  json& root() { return root_; }
  const std::string& duplicate() const { return duplicate_; }
  std::size_t position() const { return position_; }
  std::size_t token_size() const { return token_size_; }
  const std::string& error() const { return error_; }

 private:
  json* insert(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(value));
      return &top.back();
    }
    json& slot = top[key_];
    slot = std::move(value);
    return &slot;
  }
  bool add(json value) {
    insert(std::move(value));
    return true;
  }
  bool open(json container) {
    stack_.push_back(insert(std::move(container)));
    return true;
  }

  json root_;
  std::vector<json*> stack_;
  std::vector<std::set<std::string>> keys_;
  std::string key_;
  std::string duplicate_;
  std::size_t position_ = 0;
  std::size_t token_size_ = 0;
  std::string error_;
};

// "line 3, column 14 (byte 52)" of byte `offset` of `text` (line and
// column from 1, the byte from 0).
std::string line_and_column(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, line_start = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return fmt::format("line {}, column {} (byte {})", line, offset - line_start + 1, offset);
}

// nlohmann's message without its "[json.exception...] parse error at
// line 1, column 2: " prefix (the position is given ours).
std::string description(std::string what) {
  if (const std::size_t bracket = what.find("] "); bracket != std::string::npos)
    what.erase(0, bracket + 2);
  if (what.starts_with("parse error")) {
    if (const std::size_t colon = what.find(": "); colon != std::string::npos)
      what.erase(0, colon + 2);
  }
  return what;
}

}  // namespace

nlohmann::json parse_json_text(std::string_view text, std::string_view source) {
  Builder builder;
  bool ok = false;
  try {
    ok = json::sax_parse(text, &builder);
  } catch (const json::exception& e) {
    throw ValueError(
        fmt::format("{}: not valid JSON: {}", source, quoted_excerpt(description(e.what()), 200)));
  }
  if (ok) return std::move(builder.root());
  if (!builder.duplicate().empty()) {
    throw ValueError(
        fmt::format("{}: the key {} appears twice in one object (expected each key once)", source,
                    quoted_excerpt(builder.duplicate(), 80)));
  }
  const std::size_t end = builder.position();
  const std::size_t start = end >= builder.token_size() ? end - builder.token_size() : 0;
  throw ValueError(fmt::format("{}: not valid JSON at {}: {}", source, line_and_column(text, start),
                               quoted_excerpt(description(builder.error()), 200)));
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  check_input_file(path);
  std::ifstream in(path, std::ios::binary);
  RB_CHECK(in.good(), ValueError, "{}: cannot open the file", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse_json_text(text.str(), path.string());
}

}  // namespace recblocks::io
