// Protobuf text format (the `schema.pbtxt` that merlin-core and NVTabular
// write), read into a tree of fields without a compiled .proto: the caller
// (schema/merlin.cpp) knows the tensorflow-metadata messages it reads and
// skips the rest. Covers the text format as protobuf's printers and parsers
// handle it:
//
//   # comment to the end of the line
//   name: "userId"                     scalar: string, number, identifier
//   int_domain { max: 6040 }           message, also `int_domain: {...}`, `<...>`
//   tag: ["user", "id"]                list: the same field repeated
//   [type.googleapis.com/google.protobuf.Struct] { ... }   Any expanded
//   value: "\nG\n\017embedding..."     bytes: C escapes (\n \" \\ \ooo \xhh \u...)
//
// Separators `,` and `;` after a field are optional; adjacent strings join.
//
// Limits, so that no input crashes, hangs or takes unbounded memory:
// messages nest at most kMaxDepth deep; the tree is linear in the input.
// Errors are ValueError naming the source, the line and column (both from
// 1) and what was expected:
//   schema.pbtxt: not valid protobuf text at line 3, column 7: expected ':' or '{'
//   after the field name 'type', got '='
//
// Also: google.protobuf.Struct from its binary wire form (what merlin-core's
// printer leaves in an Any's `value` bytes) or from its text form, as JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace recblocks::text_proto {

inline constexpr int kMaxDepth = 100;

struct Position {
  std::size_t line = 1;
  std::size_t column = 1;
};

enum class Token : std::uint8_t { kIdentifier, kNumber, kString };

// One field of a message: a scalar (its token) or a message (its fields).
// A list (`tag: ["a", "b"]`) is one Field per element, as when repeated.
struct Field {
  std::string name;  // "feature", or "[type.googleapis.com/google.protobuf.Struct]"
  Position at;       // of the name
  bool is_message = false;
  // Scalars: the token's kind and text. Strings are decoded (escapes
  // resolved, adjacent strings joined); numbers and identifiers keep their
  // text, `negative` telling a '-' before them.
  Token token = Token::kIdentifier;
  bool negative = false;
  std::string text;
  Position value_at;
  std::vector<Field> fields;  // messages: the fields in file order
};

// A parsed text: the top-level message, and typed access to scalars whose
// errors name the source and the value's position.
class Document {
 public:
  // Parses `text`; `source` names it in errors (a path).
  Document(std::string_view text, std::string source);

  const std::vector<Field>& fields() const { return root_; }
  const std::string& source() const { return source_; }

  // "<source>: line L, column C: <message>"
  [[noreturn]] void fail(const Position& at, std::string_view message) const;

  // The scalar of `f` as a type; `what` names the field in errors
  // ("int_domain max"). Integers are decimal, 0x hex or 0 octal; doubles
  // also inf, nan and a trailing f; booleans true/false/True/False/t/f/1/0.
  std::int64_t int64(const Field& f, std::string_view what) const;
  double number(const Field& f, std::string_view what) const;
  bool boolean(const Field& f, std::string_view what) const;
  // A string field: its bytes must be UTF-8 (names and tags go into JSON).
  const std::string& string(const Field& f, std::string_view what) const;
  // Raw bytes (a bytes field such as Any.value).
  const std::string& bytes(const Field& f, std::string_view what) const;
  // An enum: its identifier, or its number's text.
  std::string enumeration(const Field& f, std::string_view what) const;
  // The message `f` (refuses a scalar).
  const std::vector<Field>& message(const Field& f, std::string_view what) const;

  // The one field named `name` in `fields`, or nullptr; refuses a second
  // one ("field 'max' is given twice (line 3 and line 5)") for non-repeated
  // fields.
  const Field* single(const std::vector<Field>& fields, std::string_view name,
                      std::string_view what) const;

  // google.protobuf.Struct as a JSON object: from its text form (the fields
  // of an expanded Any) or from its wire bytes (an Any's `value`, found at
  // `at`). Numbers that are whole and within +-2^53 become JSON integers;
  // non-finite numbers, a key given twice and non-UTF-8 strings are errors.
  nlohmann::json struct_from_text(const std::vector<Field>& fields, std::string_view what) const;
  // `depth`: the message depth the Struct would have in text (the wire
  // form nests as deep as the text form does).
  nlohmann::json struct_from_wire(std::string_view bytes, const Position& at, std::string_view what,
                                  int depth) const;

 private:
  nlohmann::json value_from_text(const Field& value, std::string_view what, int depth) const;
  nlohmann::json struct_from_text(const std::vector<Field>& fields, std::string_view what,
                                  int depth) const;

  std::string source_;
  std::vector<Field> root_;
};

// Writing: `s` as a text-format string literal ("..." with C escapes for
// quotes, backslashes and control bytes; UTF-8 kept as it is).
std::string quote(std::string_view s);

}  // namespace recblocks::text_proto
