#include "recblocks/schema/tags.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cctype>

#include "recblocks/core/error.h"

namespace recblocks {
namespace {

struct NamedTag {
  Tag tag;
  std::string_view name;
};

// Merlin's strings (merlin/schema/tags.py), atomic tags in bit order first.
constexpr std::array<NamedTag, 24> kNamedTags{{
    {Tags::CATEGORICAL, "categorical"},
    {Tags::CONTINUOUS, "continuous"},
    {Tags::LIST, "list"},
    {Tags::SEQUENCE, "sequence"},
    {Tags::TEXT, "text"},
    {Tags::TOKENIZED, "tokenized"},
    {Tags::TIME, "time"},
    {Tags::EMBEDDING, "embedding"},
    {Tags::ID, "id"},
    {Tags::USER, "user"},
    {Tags::ITEM, "item"},
    {Tags::SESSION, "session"},
    {Tags::CONTEXT, "context"},
    {Tags::TARGET, "target"},
    {Tags::REGRESSION, "regression"},
    {Tags::CLASSIFICATION, "classification"},
    {Tags::BINARY, "binary"},
    {Tags::MULTI_CLASS, "multi_class"},
    {Tags::USER_ID, "user_id"},
    {Tags::ITEM_ID, "item_id"},
    {Tags::SESSION_ID, "session_id"},
    {Tags::TEXT_TOKENIZED, "text_tokenized"},
    {Tags::BINARY_CLASSIFICATION, "binary_classification"},
    {Tags::MULTI_CLASS_CLASSIFICATION, "multi_class_classification"},
}};
static_assert(Tags::kNumAtomic == 18);

// Pairs that cannot be on one column (Merlin's TagSet collisions).
constexpr std::array<std::pair<Tag, Tag>, 1> kConflicts{{{Tags::CATEGORICAL, Tags::CONTINUOUS}}};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::uint32_t checked_union(std::uint32_t bits, Tag tag) {
  const std::uint32_t merged = bits | tag.bits();
  for (const auto& [a, b] : kConflicts) {
    const bool both = (merged & a.bits()) == a.bits() && (merged & b.bits()) == b.bits();
    RB_CHECK(!both, ValueError, "conflicting tags: a column cannot be both '{}' and '{}'", a.name(),
             b.name());
  }
  return merged;
}

}  // namespace

std::string_view Tag::name() const {
  for (const NamedTag& t : kNamedTags) {
    if (t.tag == *this) return t.name;
  }
  return "?";
}

Tag Tag::parse(std::string_view name) {
  const std::string key = lower(name);
  for (const NamedTag& t : kNamedTags) {
    if (t.name == key) return t.tag;
  }
  std::vector<std::string_view> known;
  known.reserve(std::size(kNamedTags));
  for (const NamedTag& t : kNamedTags) known.push_back(t.name);
  throw ValueError(fmt::format("unknown tag '{}'; known tags: {}", name, fmt::join(known, ", ")));
}

TagSet::TagSet(std::initializer_list<Tag> tags) {
  for (Tag t : tags) bits_ = checked_union(bits_, t);
}

TagSet::TagSet(const std::vector<Tag>& tags) {
  for (Tag t : tags) bits_ = checked_union(bits_, t);
}

TagSet TagSet::with(Tag tag) const {
  TagSet out;
  out.bits_ = checked_union(bits_, tag);
  return out;
}

TagSet TagSet::with(const TagSet& tags) const {
  TagSet out;
  out.bits_ = checked_union(bits_, Tag(tags.bits_));
  return out;
}

TagSet TagSet::without(Tag tag) const {
  TagSet out;
  out.bits_ = bits_ & ~tag.bits();
  return out;
}

std::vector<Tag> TagSet::atomic() const {
  std::vector<Tag> out;
  for (int i = 0; i < Tags::kNumAtomic; ++i) {
    if (bits_ & (1u << i)) out.emplace_back(1u << i);
  }
  return out;
}

std::vector<std::string> TagSet::names() const {
  std::vector<std::string> out;
  for (Tag t : atomic()) out.emplace_back(t.name());
  return out;
}

std::string to_string(const TagSet& tags) {
  return fmt::format("{{{}}}", fmt::join(tags.names(), ", "));
}

}  // namespace recblocks
