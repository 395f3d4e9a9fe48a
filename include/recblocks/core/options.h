// Options reflection: each hyperparameter of an options struct is declared
// once, in the struct's field table, and that one declaration drives JSON
// writing and reading (unknown keys, missing required keys and wrong types
// are errors naming them) and the printed docs. The defaults stay the
// struct's default member initialisers.
//
//   struct LayerNormOptions {
//     double epsilon = 1e-3;
//     bool center = true;
//     static auto option_fields() {
//       using O = LayerNormOptions;
//       return options::table<O>("LayerNormOptions",
//           options::field("epsilon", &O::epsilon, "added to the variance, > 0"),
//           options::field("center", &O::center, "learn beta"));
//     }
//   };
//   nlohmann::json j = options::to_json(o);                 // {"center":true,"epsilon":0.001}
//   auto o = options::from_json<LayerNormOptions>(j, "LayerNorm config");
//   options::document<LayerNormOptions>()                    // key, type, default, doc per field
//   // keys read by the caller, and another word in the message:
//   options::from_json<AdamOptions>(j, "adam", {.noun = "option", .also_allowed = {"type"}});
//
// A field is options::field(key, &Struct::member, doc[, codec]) (`codec`
// writes, reads and names it instead of Codec<T>), optionally
//   .required()          the key must be present (from_json's "<context>: missing '<key>'")
//   .omit_if_default()   not written while it holds the default (keeps files short)
// and options::flatten(&Struct::nested) inlines the fields of a described
// member into the same JSON object (a block's config = its positional
// arguments + its options struct).
//
// Codec<T> knows bool, integers, floating point, std::string, std::vector,
// std::map<std::string, T>, std::optional (an empty one is not written) and
// every described struct (written as a nested object). Other types get a
// Codec specialisation next to their declaration (Initializer, Schema), an
// options::enum_codec (enums written as strings) or an options::codec built
// from two functions.
//
// The key need not be the member's name (a task's task_name can be written
// "name"); a value that is not plain data (a Block written as its JSON or
// null, metrics written as their names) takes options::codec. The JSON
// objects are nlohmann's sorted maps: declaration order does not change a
// file, it orders the known-keys list of messages and the docs.
//
// Errors (ValueError), with `context` naming the thing read ("MLPBlock config"):
//   <context>: expected a JSON object, got 3
//   <context>: unknown key 'activaton' (known: dimensions, activation, ...)
//   <context>: missing 'dimensions'
//   <context>: 'dropout' must be a number, got "high"
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "recblocks/core/error.h"

namespace recblocks::options {

// Where a value is read: `context` names the thing ("MLPBlock config") and
// `key` the value in it ("dropout", "crosses[1][0]").
struct Path {
  std::string_view context;
  std::string key;

  Path operator[](std::size_t i) const { return {context, fmt::format("{}[{}]", key, i)}; }
  Path operator[](std::string_view k) const { return {context, fmt::format("{}.{}", key, k)}; }
};

// Throws "<context>: '<key>' must be <expected>, got <value>".
[[noreturn]] inline void type_error(const Path& path, std::string_view expected,
                                    const nlohmann::json& got) {
  throw ValueError(
      fmt::format("{}: '{}' must be {}, got {}", path.context, path.key, expected, got.dump()));
}

// Codec<T>: writes a T as JSON, reads it back (type errors name the path)
// and names its type for the docs; optionally `present(v)` (false: the key
// is not written) and `show(v)` (the default as the docs print it).
// Specialise it for a type of your own.
template <class T>
struct Codec;

template <class T>
concept Described = requires {
  T::option_fields();
};

template <>
struct Codec<bool> {
  std::string type_name() const { return "bool"; }
  nlohmann::json write(bool v) const { return v; }
  bool read(const nlohmann::json& j, const Path& path) const {
    if (!j.is_boolean()) type_error(path, "true or false", j);
    return j.get<bool>();
  }
};

template <std::integral T>
requires(!std::same_as<T, bool>) struct Codec<T> {
  std::string type_name() const { return "int"; }
  nlohmann::json write(T v) const { return v; }
  // An integer, or a number with an integral value (20.0), in T's range.
  T read(const nlohmann::json& j, const Path& path) const {
    if (j.is_number_unsigned()) {
      const auto v = j.get<std::uint64_t>();
      if (v <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(v);
    } else if (j.is_number_integer()) {
      const auto v = j.get<std::int64_t>();
      if (std::in_range<T>(v)) return static_cast<T>(v);
    } else if (j.is_number_float()) {
      const double v = j.get<double>();
      if (std::trunc(v) == v && v >= static_cast<double>(std::numeric_limits<T>::min()) &&
          v <= static_cast<double>(std::numeric_limits<T>::max())) {
        return static_cast<T>(v);
      }
    }
    if constexpr (sizeof(T) >= 8) {
      type_error(path, std::is_signed_v<T> ? "an integer" : "an integer >= 0", j);
    } else {
      type_error(path,
                 fmt::format("an integer in [{}, {}]", std::numeric_limits<T>::min(),
                             std::numeric_limits<T>::max()),
                 j);
    }
  }
};

template <std::floating_point T>
struct Codec<T> {
  std::string type_name() const { return "number"; }
  nlohmann::json write(T v) const { return v; }
  // For the docs: a float's shortest form (0.1, not 0.10000000149011612).
  std::string show(T v) const { return fmt::format("{}", v); }
  T read(const nlohmann::json& j, const Path& path) const {
    if (!j.is_number()) type_error(path, "a number", j);
    return j.get<T>();
  }
};

template <>
struct Codec<std::string> {
  std::string type_name() const { return "string"; }
  nlohmann::json write(const std::string& v) const { return v; }
  std::string read(const nlohmann::json& j, const Path& path) const {
    if (!j.is_string()) type_error(path, "a string", j);
    return j.get<std::string>();
  }
};

template <class T>
struct Codec<std::vector<T>> {
  Codec<T> element;
  std::string type_name() const { return fmt::format("[{}]", element.type_name()); }
  nlohmann::json write(const std::vector<T>& v) const {
    nlohmann::json out = nlohmann::json::array();
    for (const T& x : v) out.push_back(element.write(x));
    return out;
  }
  std::vector<T> read(const nlohmann::json& j, const Path& path) const {
    if (!j.is_array()) type_error(path, fmt::format("a list of {}", element.type_name()), j);
    std::vector<T> out;
    out.reserve(j.size());
    for (std::size_t i = 0; i < j.size(); ++i) out.push_back(element.read(j[i], path[i]));
    return out;
  }
};

template <class T>
struct Codec<std::map<std::string, T>> {
  Codec<T> element;
  std::string type_name() const { return fmt::format("{{string: {}}}", element.type_name()); }
  nlohmann::json write(const std::map<std::string, T>& v) const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, x] : v) out[k] = element.write(x);
    return out;
  }
  std::map<std::string, T> read(const nlohmann::json& j, const Path& path) const {
    if (!j.is_object()) {
      type_error(path, fmt::format("an object of string to {}", element.type_name()), j);
    }
    std::map<std::string, T> out;
    for (const auto& [k, x] : j.items()) out[k] = element.read(x, path[k]);
    return out;
  }
};

// An empty optional is not written; a present key is read as a T.
template <class T>
struct Codec<std::optional<T>> {
  Codec<T> element;
  std::string type_name() const { return element.type_name(); }
  bool present(const std::optional<T>& v) const { return v.has_value(); }
  nlohmann::json write(const std::optional<T>& v) const {
    return v ? element.write(*v) : nlohmann::json();
  }
  std::optional<T> read(const nlohmann::json& j, const Path& path) const {
    return element.read(j, path);
  }
};

// ---- fields and tables ------------------------------------------------------------

template <class O, class T, class C>
struct Field {
  std::string_view key;
  T O::*member;
  std::string_view doc;
  C codec;
  bool is_required = false;
  bool omit_default = false;

  Field required() const {
    Field f = *this;
    f.is_required = true;
    return f;
  }
  Field omit_if_default() const {
    Field f = *this;
    f.omit_default = true;
    return f;
  }
};

template <class O, class T>
Field<O, T, Codec<T>> field(std::string_view key, T O::*member, std::string_view doc) {
  return {key, member, doc, Codec<T>{}};
}

// A field written, read and named by `codec` instead of Codec<T>.
template <class O, class T, class C>
Field<O, T, C> field(std::string_view key, T O::*member, std::string_view doc, C codec) {
  return {key, member, doc, std::move(codec)};
}

// The fields of a described member, inlined into the enclosing object.
template <class O, class T>
requires Described<T>
struct Flatten {
  T O::*member;
};

template <class O, class T>
requires Described<T> Flatten<O, T> flatten(T O::*member) { return {member}; }

template <class O, class... Fs>
struct Table {
  std::string_view name;  // for messages about a nested object and for the docs
  std::tuple<Fs...> fields;
};

template <class O, class... Fs>
Table<O, Fs...> table(std::string_view name, Fs... fields) {
  return {name, {std::move(fields)...}};
}

// For blocks and tasks without options: an empty table.
struct NoOptions {
  static auto option_fields() { return table<NoOptions>("NoOptions"); }
};

namespace detail {

// Calls on_field(field, object) for every field of `object`, flattened
// members included, in declaration order.
template <class O, class F>
void for_each_field(O& object, F&& on_field) {
  using Plain = std::remove_const_t<O>;
  const auto fields = Plain::option_fields().fields;
  std::apply(
      [&](const auto&... f) {
        (
            [&](const auto& one) {
              if constexpr (requires { one.key; }) {
                on_field(one, object);
              } else {  // a Flatten
                for_each_field(object.*(one.member), on_field);
              }
            }(f),
            ...);
      },
      fields);
}

template <class C, class T>
bool written(const C& codec, const T& value) {
  if constexpr (requires { codec.present(value); }) return codec.present(value);
  return true;
}

}  // namespace detail

// The declared keys of O, in declaration order (flattened members inlined).
template <Described O>
std::vector<std::string> keys() {
  std::vector<std::string> out;
  const O defaults{};
  detail::for_each_field(defaults, [&](const auto& f, const auto&) { out.emplace_back(f.key); });
  return out;
}

template <Described O>
nlohmann::json to_json(const O& object) {
  nlohmann::json out = nlohmann::json::object();
  detail::for_each_field(object, [&](const auto& f, const auto& owner) {
    const auto& value = owner.*(f.member);
    if (!detail::written(f.codec, value)) return;
    nlohmann::json j = f.codec.write(value);
    if (f.omit_default) {
      using Owner = std::remove_cvref_t<decltype(owner)>;
      if (j == f.codec.write(Owner{}.*(f.member))) return;
    }
    out[std::string(f.key)] = std::move(j);
  });
  return out;
}

// How from_json treats keys outside the table.
struct ReadSettings {
  // The word in the message: "unknown key 'x'" ("option" for optimizers).
  std::string_view noun = "key";
  // Keys the caller reads itself (an optimizer's "type"): neither errors
  // nor listed as known.
  std::vector<std::string_view> also_allowed = {};
};

// Reads an O: absent keys keep O's defaults; throws ValueError for a
// non-object, an unknown key (listing the known ones), a missing required
// key or a value of the wrong type, each message starting with `context`.
template <Described O>
O from_json(const nlohmann::json& j, std::string_view context, const ReadSettings& settings = {}) {
  RB_CHECK(j.is_object(), ValueError, "{}: expected a JSON object, got {}", context, j.dump());
  const std::vector<std::string> known = keys<O>();
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (const std::string& k : known) ok = ok || k == key;
    for (std::string_view k : settings.also_allowed) ok = ok || k == key;
    RB_CHECK(ok, ValueError, "{}: unknown {} '{}' (known: {})", context, settings.noun, key,
             known.empty() ? std::string("none") : fmt::format("{}", fmt::join(known, ", ")));
  }
  O out{};
  detail::for_each_field(out, [&](const auto& f, auto& owner) {
    const std::string key(f.key);
    const auto it = j.find(key);
    if (it == j.end()) {
      RB_CHECK(!f.is_required, ValueError, "{}: missing '{}'", context, key);
      return;
    }
    owner.*(f.member) = f.codec.read(*it, Path{context, key});
  });
  return out;
}

// A described struct nested in another is a JSON object; messages about its
// keys name the outer context, the key and the struct:
//   EmbeddingFeatures config: 'options': EmbeddingOptions: unknown key 'dimension' (...)
template <Described T>
struct Codec<T> {
  using NestedType = T;  // document() lists T's keys under "<key>."
  std::string type_name() const { return std::string(T::option_fields().name); }
  nlohmann::json write(const T& v) const { return to_json(v); }
  T read(const nlohmann::json& j, const Path& path) const {
    return from_json<T>(
        j, fmt::format("{}: '{}': {}", path.context, path.key, T::option_fields().name));
  }
};

// ---- adapters ---------------------------------------------------------------------

// An enum written as one of its names.
//   options::field("decay", &O::decay, "...", options::enum_codec<Decay>(
//       {{Decay::kConstant, "constant"}, {Decay::kCosine, "cosine"}}))
template <class E, std::size_t kN>
struct EnumCodec {
  std::array<std::pair<E, std::string_view>, kN> names;

  std::string type_name() const {
    std::string out;
    for (const auto& [e, name] : names) {
      if (!out.empty()) out += '|';
      out += name;
    }
    return out;
  }
  nlohmann::json write(E v) const {
    for (const auto& [e, name] : names) {
      if (e == v) return std::string(name);
    }
    throw ValueError(fmt::format("options: enum value {} has no name", static_cast<long long>(v)));
  }
  E read(const nlohmann::json& j, const Path& path) const {
    const std::string expected = fmt::format("one of \"{}\"", type_name());
    if (!j.is_string()) type_error(path, expected, j);
    const std::string s = j.get<std::string>();
    for (const auto& [e, name] : names) {
      if (name == s) return e;
    }
    type_error(path, expected, j);
  }
};

template <class E, std::size_t kN>
EnumCodec<E, kN> enum_codec(const std::pair<E, std::string_view> (&names)[kN]) {
  EnumCodec<E, kN> out;
  for (std::size_t i = 0; i < kN; ++i) out.names[i] = names[i];
  return out;
}

// A codec from two functions, for a one-off representation:
//   options::codec<std::vector<Metric>>("[metric name]", write_names, read_names)
template <class T>
struct FunctionCodec {
  std::string name;
  std::function<nlohmann::json(const T&)> write_fn;
  std::function<T(const nlohmann::json&, const Path&)> read_fn;

  std::string type_name() const { return name; }
  nlohmann::json write(const T& v) const { return write_fn(v); }
  T read(const nlohmann::json& j, const Path& path) const { return read_fn(j, path); }
};

template <class T>
FunctionCodec<T> codec(std::string type_name, std::function<nlohmann::json(const T&)> write,
                       std::function<T(const nlohmann::json&, const Path&)> read) {
  return {std::move(type_name), std::move(write), std::move(read)};
}

// ---- docs -------------------------------------------------------------------------

struct FieldDoc {
  std::string key;
  std::string type;
  std::string default_value;  // the default's JSON, "(required)" or "(unset)"
  std::string doc;
  bool required = false;
};

// One row per key of O, in declaration order; a nested described struct
// gets a row "(object)" followed by its own rows as "<key>.<its key>".
template <Described O>
std::vector<FieldDoc> document() {
  std::vector<FieldDoc> out;
  const O defaults{};
  detail::for_each_field(defaults, [&](const auto& f, const auto& owner) {
    const auto& value = owner.*(f.member);
    using C = std::remove_cvref_t<decltype(f.codec)>;
    std::string def;
    if (f.is_required) {
      def = "(required)";
    } else if (!detail::written(f.codec, value)) {
      def = "(unset)";
    } else if constexpr (requires { typename C::NestedType; }) {
      def = "(object)";
    } else if constexpr (requires { f.codec.show(value); }) {
      def = f.codec.show(value);
    } else {
      def = f.codec.write(value).dump();
    }
    out.push_back({std::string(f.key), f.codec.type_name(), std::move(def), std::string(f.doc),
                   f.is_required});
    if constexpr (requires { typename C::NestedType; }) {
      for (FieldDoc row : document<typename C::NestedType>()) {
        row.key = fmt::format("{}.{}", f.key, row.key);
        out.push_back(std::move(row));
      }
    }
  });
  return out;
}

// The rows as aligned text, one line per key:
//   <indent>key  type  default  doc
inline std::string format_docs(const std::vector<FieldDoc>& docs, std::string_view indent = "  ") {
  std::size_t key_width = 0, type_width = 0, default_width = 0;
  for (const FieldDoc& d : docs) {
    key_width = std::max(key_width, d.key.size());
    type_width = std::max(type_width, d.type.size());
    default_width = std::max(default_width, d.default_value.size());
  }
  std::string out;
  for (const FieldDoc& d : docs) {
    out += fmt::format("{}{:<{}}  {:<{}}  {:<{}}  {}\n", indent, d.key, key_width, d.type,
                       type_width, d.default_value, default_width, d.doc);
  }
  return out;
}

}  // namespace recblocks::options
