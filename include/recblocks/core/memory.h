// The memory limit: how many bytes of tensor storage recblocks may hold at
// once. A model's parameters, a dataset read into memory and every owned
// tensor (Tensor::empty and what builds on it) are counted; a new block of
// a step's arena is checked against what is left; memory-mapped files are
// not counted (the kernel pages them in and out).
// An allocation that would go over the limit throws MemoryLimitError
// before anything is allocated, saying how much was asked for, how much is
// held and what the limit is, instead of the process growing until the
// system kills it.
//
// The limit, in order of precedence:
//   1. set_memory_limit(bytes) (0: back to the default);
//   2. the environment variable RECBLOCKS_MAX_MEMORY, read once: a byte
//      count with an optional binary suffix K, M, G, T (e.g. "12G",
//      "512M", "1073741824"), or a percentage of the default's base
//      ("50%");
//   3. the default: 80% of the memory this process can use, the smallest
//      of the physical RAM, the cgroup's memory.max (a container's limit)
//      and the address-space limit (ulimit -v).
//
//   recblocks::set_memory_limit(std::size_t{4} << 30);  // 4 GiB
//   recblocks::check_allocation(bytes, "embedding table 'userId' [1000000000, 64]");
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "recblocks/core/error.h"

namespace recblocks {

// An allocation refused by the memory limit (a ValueError: what was asked
// for is out of range).
class MemoryLimitError : public ValueError {
 public:
  using ValueError::ValueError;
};

// The limit in bytes now in force.
std::size_t memory_limit();
// Sets the limit in bytes; 0 restores the default (environment, then RAM).
void set_memory_limit(std::size_t bytes);
// The default without set_memory_limit: RECBLOCKS_MAX_MEMORY, else 80% of
// the usable memory (see above).
std::size_t default_memory_limit();
// Bytes of owned tensor storage held now.
std::size_t memory_in_use();

// Throws MemoryLimitError unless `bytes` more fit under the limit:
//   "<what> needs 7.45 GiB (8000000000 bytes); 1.2 MiB are in use and the
//    memory limit is 6.2 GiB (set it with RECBLOCKS_MAX_MEMORY=64G or
//    recblocks::set_memory_limit)"
void check_allocation(std::size_t bytes, std::string_view what);

// Counts `bytes` as held / released: Tensor's allocator. reserve_memory
// throws like check_allocation, and counts nothing when it throws.
void reserve_memory(std::size_t bytes, std::string_view what);
void release_memory(std::size_t bytes) noexcept;

// "7.45 GiB", "512 B": sizes in messages.
std::string format_bytes(std::size_t bytes);
// Parses RECBLOCKS_MAX_MEMORY's syntax ("12G", "512M", "50%", "1073741824")
// against `base` (for percentages); nullopt if it is not valid.
std::optional<std::size_t> parse_memory_size(std::string_view text, std::size_t base);

}  // namespace recblocks
