// Tags: what a column is (CATEGORICAL, CONTINUOUS, LIST, ...), whom it
// describes (USER, ITEM, ...) and whether it is a target. They carry
// Merlin's meaning and Merlin's strings, so a schema.json written by
// Merlin/NVTabular reads as it is.
//
//   Tags::CATEGORICAL                  an atomic tag: "categorical"
//   Tags::USER_ID == USER + ID         a compound tag: a column has it when
//                                      it has every part
//   TagSet{Tags::USER_ID, Tags::CATEGORICAL}   a column's tags (atomic)
//
// A TagSet refuses conflicting tags (CATEGORICAL with CONTINUOUS), like
// Merlin's TagSet.
#pragma once

#include <bit>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace recblocks {

// One tag, atomic (one bit) or compound (several bits).
class Tag {
 public:
  constexpr Tag() = default;
  constexpr explicit Tag(std::uint32_t bits) : bits_(bits) {}

  constexpr std::uint32_t bits() const { return bits_; }
  constexpr bool is_compound() const { return std::popcount(bits_) > 1; }
  // Merlin's string: "categorical", "user_id", "binary_classification", ...
  std::string_view name() const;
  // Inverse of name(); also accepts Merlin's upper-case enum names
  // ("CATEGORICAL"). Throws ValueError listing the known tags.
  static Tag parse(std::string_view name);

  friend constexpr bool operator==(Tag, Tag) = default;

 private:
  std::uint32_t bits_ = 0;
};

// The tags by name, as in Merlin: `Tags::CATEGORICAL`, `Tags::USER_ID`.
struct Tags {
  // feature types
  static constexpr Tag CATEGORICAL{1u << 0};
  static constexpr Tag CONTINUOUS{1u << 1};
  static constexpr Tag LIST{1u << 2};
  static constexpr Tag SEQUENCE{1u << 3};
  static constexpr Tag TEXT{1u << 4};
  static constexpr Tag TOKENIZED{1u << 5};
  static constexpr Tag TIME{1u << 6};
  static constexpr Tag EMBEDDING{1u << 7};
  // feature context
  static constexpr Tag ID{1u << 8};
  static constexpr Tag USER{1u << 9};
  static constexpr Tag ITEM{1u << 10};
  static constexpr Tag SESSION{1u << 11};
  static constexpr Tag CONTEXT{1u << 12};
  // targets
  static constexpr Tag TARGET{1u << 13};
  static constexpr Tag REGRESSION{1u << 14};
  static constexpr Tag CLASSIFICATION{1u << 15};
  static constexpr Tag BINARY{1u << 16};
  static constexpr Tag MULTI_CLASS{1u << 17};
  // compound tags: a column has one when it has all its parts
  static constexpr Tag USER_ID{USER.bits() | ID.bits()};
  static constexpr Tag ITEM_ID{ITEM.bits() | ID.bits()};
  static constexpr Tag SESSION_ID{SESSION.bits() | ID.bits()};
  static constexpr Tag TEXT_TOKENIZED{TEXT.bits() | TOKENIZED.bits()};
  static constexpr Tag BINARY_CLASSIFICATION{BINARY.bits() | CLASSIFICATION.bits()};
  static constexpr Tag MULTI_CLASS_CLASSIFICATION{MULTI_CLASS.bits() | CLASSIFICATION.bits()};

  static constexpr int kNumAtomic = 18;
};

// The tags of one column: a set of atomic tags (compound tags are split
// into their parts on insertion).
class TagSet {
 public:
  TagSet() = default;
  // Throws ValueError on conflicting tags, naming both.
  TagSet(std::initializer_list<Tag> tags);
  explicit TagSet(const std::vector<Tag>& tags);

  // True when every part of `tag` is in the set.
  bool has(Tag tag) const { return (bits_ & tag.bits()) == tag.bits() && tag.bits() != 0; }
  bool empty() const { return bits_ == 0; }
  std::uint32_t bits() const { return bits_; }

  // Copies with tags added (conflicts throw) or removed (every part of a
  // compound tag is removed).
  TagSet with(Tag tag) const;
  TagSet with(const TagSet& tags) const;
  TagSet without(Tag tag) const;

  // Atomic tags in declaration order, as Merlin's strings.
  std::vector<std::string> names() const;
  std::vector<Tag> atomic() const;

  friend bool operator==(const TagSet&, const TagSet&) = default;

 private:
  std::uint32_t bits_ = 0;
};

// "{categorical, item, id}"
std::string to_string(const TagSet& tags);

}  // namespace recblocks
