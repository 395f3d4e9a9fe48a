#include "recblocks/io/safetensors.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "io/atomic_internal.h"
#include "recblocks/core/memory.h"
#include "recblocks/io/paths.h"

// The data section is written byte for byte as the tensors hold it: the
// format is little-endian.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");

namespace recblocks::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";
// The reference implementation refuses larger headers (MAX_HEADER_SIZE).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr std::size_t kAlign = 8;

std::string_view format_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "F32";
    case DType::kInt32: return "I32";
    case DType::kInt64: return "I64";
    case DType::kBFloat16: return "BF16";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType d : {DType::kFloat32, DType::kInt32, DType::kInt64, DType::kBFloat16}) {
    if (format_name(d) == name) return d;
  }
  return std::nullopt;
}

// Python's safetensors orders the data section by dtype, largest alignment
// first (its Dtype enum, descending: I64, F32, I32, BF16), then by name.
// Every tensor then starts at a multiple of its element size, and our files
// are byte-identical to the ones save_file writes.
int layout_rank(DType dtype) {
  switch (dtype) {
    case DType::kInt64: return 0;
    case DType::kFloat32: return 1;
    case DType::kInt32: return 2;
    case DType::kBFloat16: return 3;
  }
  return 4;
}

[[noreturn]] void throw_errno(const std::string& what, const fs::path& path, int error) {
  throw Error(fmt::format("{}: {}: {}", path.string(), what, std::strerror(error)));
}

// ---------------------------------------------------------------- writing

// A JSON string literal; throws ValueError naming `what` if `s` is not UTF-8.
std::string quoted(const std::string& s, const fs::path& path, std::string_view what) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    throw ValueError(
        fmt::format("write_safetensors {}: {} is not valid UTF-8", path.string(), what));
  }
}

struct Entry {
  const std::string* name;
  const Tensor* tensor;
};

// The header exactly as the reference writes it: compact JSON, metadata
// first (keys sorted), then the tensors in data order, padded with spaces
// so that the data section starts at a multiple of 8 bytes of the file.
std::string header_of(const std::vector<Entry>& entries,
                      const std::map<std::string, std::string>& metadata, const fs::path& path) {
  std::string out = "{";
  if (!metadata.empty()) {
    out += fmt::format("\"{}\":{{", kMetadataKey);
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) out += ',';
      first = false;
      out += quoted(key, path, fmt::format("metadata key '{}'", key));
      out += ':';
      out += quoted(value, path, fmt::format("the value of metadata key '{}'", key));
    }
    out += "},";
  }
  std::size_t offset = 0;
  for (const Entry& e : entries) {
    const std::size_t end = offset + e.tensor->nbytes();
    out += fmt::format(R"({}:{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}},)",
                       quoted(*e.name, path, fmt::format("tensor name '{}'", *e.name)),
                       format_name(e.tensor->dtype()), fmt::join(e.tensor->shape().dims(), ","),
                       offset, end);
    offset = end;
  }
  if (out.back() == ',') out.pop_back();
  out += '}';
  out.append((kAlign - out.size() % kAlign) % kAlign, ' ');
  return out;
}

void write_all(int fd, const void* data, std::size_t n, const fs::path& path,
               const std::string& what) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno(what, path, errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Streams the file into `temporary` (created, never replaced) and fsyncs
// it. Errors name the target `path`, and the temporary.
void write_file(const fs::path& temporary, const fs::path& path, std::string_view header,
                const std::vector<Entry>& entries) {
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    throw_errno(fmt::format("cannot create {}", temporary.string()), path, error);
  }
  const std::string writing = fmt::format("writing {} failed", temporary.string());
  try {
    std::array<unsigned char, 8> length{};
    const std::uint64_t n = header.size();
    for (std::size_t i = 0; i < length.size(); ++i)
      length[i] = static_cast<unsigned char>(n >> (8 * i));
    write_all(fd, length.data(), length.size(), path, writing);
    write_all(fd, header.data(), header.size(), path, writing);
    for (const Entry& e : entries)
      write_all(fd, e.tensor->raw(), e.tensor->nbytes(), path, writing);
    if (::fsync(fd) != 0) {
      const int error = errno;
      throw_errno(fmt::format("fsync of {} failed", temporary.string()), path, error);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) {
    const int error = errno;
    throw_errno(fmt::format("close of {} failed", temporary.string()), path, error);
  }
}

// ---------------------------------------------------------------- reading

class File {
 public:
  explicit File(const fs::path& path) : path_(path) {
    check_input_file(path);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw_errno("cannot open the safetensors file", path, errno);
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int error = errno;
      ::close(fd_);
      throw_errno("cannot stat", path, error);
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~File() { ::close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  std::uint64_t size() const { return size_; }

  void read_at(void* out, std::size_t n, std::uint64_t offset) const {
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw_errno("read failed", path_, errno);
      }
      if (r == 0) {
        throw Error(
            fmt::format("{}: unexpected end of file at byte {} (the file shrank while "
                        "it was read?)",
                        path_.string(), offset));
      }
      p += r;
      n -= static_cast<std::size_t>(r);
      offset += static_cast<std::uint64_t>(r);
    }
  }

 private:
  const fs::path& path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// A tensor's header entry, validated on its own.
struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> dims;
  std::uint64_t begin;
  std::uint64_t end;
  Shape shape;
};

// Parses the JSON, reporting the first duplicate key of any object (a JSON
// parser otherwise keeps the last one silently).
json parse_header_json(std::string_view text, const fs::path& path) {
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  const json::parser_callback_t callback = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty() && !duplicate) {
      std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second) duplicate = std::move(key);
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, callback);
  } catch (const json::exception& e) {
    // (The parser's message quotes the bytes it stopped at: escaped.)
    throw ValueError(fmt::format("{}: the safetensors header is not valid JSON: {}", path.string(),
                                 quoted_excerpt(e.what(), 200)));
  }
  RB_CHECK(!duplicate, ValueError, "{}: the safetensors header has the key {} twice", path.string(),
           quoted_excerpt(duplicate.value_or(""), 80));
  return header;
}

std::string json_type(const json& j) { return j.type_name(); }

// A JSON value for a message: ASCII only (control and non-ASCII characters
// as \uXXXX escapes), cut after 80 characters.
std::string short_dump(const json& j) {
  std::string text = j.dump(-1, ' ', /*ensure_ascii=*/true);
  if (text.size() > 80) text = fmt::format("{}... ({} bytes)", text.substr(0, 80), text.size());
  return text;
}

// A non-negative JSON integer (dimensions and offsets).
std::uint64_t non_negative(const json& j, const fs::path& path, const std::string& name,
                           std::string_view field) {
  RB_CHECK(j.is_number_unsigned(), ValueError,
           "{}: tensor {}: {} holds {}, expected a non-negative integer", path.string(),
           quoted_excerpt(name, 80), field, short_dump(j));
  return j.get<std::uint64_t>();
}

TensorInfo parse_tensor(const std::string& name, const json& entry, std::uint64_t data_size,
                        const fs::path& path) {
  const std::string p = path.string();
  const std::string shown = quoted_excerpt(name, 80);
  RB_CHECK(entry.is_object(), ValueError,
           "{}: tensor {}: expected an object with 'dtype', 'shape' and 'data_offsets', got {}", p,
           shown, json_type(entry));
  for (const auto& [key, value] : entry.items()) {
    RB_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", ValueError,
             "{}: tensor {}: unknown field {} (expected 'dtype', 'shape' and 'data_offsets')", p,
             shown, quoted_excerpt(key, 80));
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    RB_CHECK(entry.contains(field), ValueError,
             "{}: tensor {}: missing field '{}' (expected 'dtype', 'shape' and 'data_offsets')", p,
             shown, field);
  }
  TensorInfo info{name, DType::kFloat32, {}, 0, 0, {}};

  const json& dtype = entry["dtype"];
  RB_CHECK(dtype.is_string(), ValueError, "{}: tensor {}: dtype is {}, expected a string", p, shown,
           short_dump(dtype));
  const std::optional<DType> parsed = parse_dtype(dtype.get<std::string>());
  RB_CHECK(parsed.has_value(), ValueError,
           "{}: tensor {}: unsupported dtype {} (recblocks reads F32, I32, I64 and BF16)", p, shown,
           quoted_excerpt(dtype.get<std::string>(), 40));
  info.dtype = *parsed;

  const json& shape = entry["shape"];
  RB_CHECK(shape.is_array(), ValueError, "{}: tensor {}: shape is {}, expected an array", p, shown,
           short_dump(shape));
  RB_CHECK(shape.size() <= static_cast<std::size_t>(Shape::kMaxRank), ValueError,
           "{}: tensor {}: shape {} has rank {}, at most {} is supported", p, shown,
           short_dump(shape), shape.size(), Shape::kMaxRank);
  // Byte size of the non-zero dimensions, overflow-checked, so that no
  // product of dimensions can overflow later, even for an empty tensor.
  std::uint64_t bytes = dtype_size(info.dtype);
  bool empty = false;
  for (const json& dim : shape) {
    const std::uint64_t d =
        non_negative(dim, path, name, fmt::format("shape {}", short_dump(shape)));
    if (d == 0) {
      empty = true;
    } else {
      RB_CHECK(!__builtin_mul_overflow(bytes, d, &bytes) &&
                   bytes <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
               ValueError, "{}: tensor {}: shape {} is too large (its byte size overflows)", p,
               shown, short_dump(shape));
    }
    info.dims.push_back(static_cast<std::int64_t>(d));
  }
  if (empty) bytes = 0;
  try {
    info.shape = Shape(std::span<const std::int64_t>(info.dims));
  } catch (const ShapeError& e) {
    throw ValueError(fmt::format("{}: tensor {}: {}", p, shown, e.what()));
  }

  const json& offsets = entry["data_offsets"];
  RB_CHECK(offsets.is_array() && offsets.size() == 2, ValueError,
           "{}: tensor {}: data_offsets is {}, expected [begin, end]", p, shown,
           short_dump(offsets));
  info.begin = non_negative(offsets[0], path, name, "data_offsets[0]");
  info.end = non_negative(offsets[1], path, name, "data_offsets[1]");
  RB_CHECK(info.begin <= info.end, ValueError,
           "{}: tensor {}: data_offsets [{}, {}] end before they begin", p, shown, info.begin,
           info.end);
  RB_CHECK(info.end - info.begin == bytes, ValueError,
           "{}: tensor {}: shape {} of {} needs {} bytes, data_offsets [{}, {}] hold {}", p, shown,
           short_dump(shape), format_name(info.dtype), bytes, info.begin, info.end,
           info.end - info.begin);
  RB_CHECK(info.end <= data_size, ValueError,
           "{}: tensor {}: data_offsets [{}, {}] end beyond the data section of {} bytes (the "
           "file is truncated or the offsets are wrong)",
           p, shown, info.begin, info.end, data_size);
  return info;
}

std::map<std::string, std::string> parse_metadata(const json& j, const fs::path& path) {
  RB_CHECK(j.is_object(), ValueError, "{}: {} is {}, expected an object of strings", path.string(),
           kMetadataKey, json_type(j));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : j.items()) {
    RB_CHECK(value.is_string(), ValueError, "{}: {}: the value of {} is {}, expected a string",
             path.string(), kMetadataKey, quoted_excerpt(key, 80), short_dump(value));
    metadata.emplace(key, value.get<std::string>());
  }
  return metadata;
}

// The format's rule: the tensors' byte ranges tile the data section exactly,
// without gaps or overlaps.
void check_coverage(std::vector<const TensorInfo*> infos, std::uint64_t data_size,
                    const fs::path& path) {
  std::sort(infos.begin(), infos.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  std::uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* info : infos) {
    RB_CHECK(info->begin >= covered, ValueError,
             "{}: tensor {}: data_offsets [{}, {}] overlap tensor {} [{}, {}]", path.string(),
             quoted_excerpt(info->name, 80), info->begin, info->end,
             quoted_excerpt(previous ? previous->name : "", 80), previous ? previous->begin : 0,
             covered);
    RB_CHECK(info->begin == covered, ValueError,
             "{}: bytes [{}, {}) of the data section belong to no tensor (tensor {} begins at "
             "{}, expected {}: the tensors must cover the data section without gaps)",
             path.string(), covered, info->begin, quoted_excerpt(info->name, 80), info->begin,
             covered);
    covered = info->end;
    previous = info;
  }
  RB_CHECK(covered == data_size, ValueError,
           "{}: the tensors cover {} of the {} bytes of the data section (expected all of them: "
           "trailing bytes belong to no tensor)",
           path.string(), covered, data_size);
}

}  // namespace

void write_safetensors(const fs::path& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<Entry> entries;
  entries.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    RB_CHECK(name != kMetadataKey, ValueError,
             "write_safetensors {}: '{}' is reserved for the metadata, not a tensor name",
             path.string(), kMetadataKey);
    RB_CHECK(tensor.defined(), ValueError, "write_safetensors {}: tensor '{}' is undefined",
             path.string(), name);
    entries.push_back({&name, &tensor});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return layout_rank(a.tensor->dtype()) < layout_rank(b.tensor->dtype());
  });
  const std::string header = header_of(entries, metadata, path);

  const fs::path temporary = detail::temporary_sibling(path, "tmp");
  try {
    write_file(temporary, path, header, entries);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
  detail::rename_into_place(temporary, path);
}

namespace {

// The validated header of an open file: every tensor's entry, checked
// against the file's size and against each other.
struct ParsedHeader {
  std::vector<TensorInfo> infos;
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;
  std::uint64_t data_size = 0;
};

ParsedHeader parse_file_header(const File& file, const fs::path& path) {
  const std::string p = path.string();
  RB_CHECK(file.size() >= 8, ValueError,
           "{}: not a safetensors file: {} bytes, shorter than the 8-byte header length", p,
           file.size());
  std::array<unsigned char, 8> length{};
  file.read_at(length.data(), length.size(), 0);
  std::uint64_t header_size = 0;
  for (std::size_t i = length.size(); i-- > 0;) header_size = (header_size << 8) | length[i];
  RB_CHECK(header_size <= kMaxHeaderBytes, ValueError,
           "{}: the header length is {} bytes, more than the {} allowed (not a safetensors file?)",
           p, header_size, kMaxHeaderBytes);
  RB_CHECK(8 + header_size <= file.size(), ValueError,
           "{}: truncated safetensors file: {} bytes, the header alone needs 8 + {}", p,
           file.size(), header_size);
  ParsedHeader parsed;
  parsed.data_start = 8 + header_size;
  parsed.data_size = file.size() - parsed.data_start;

  std::string text(header_size, '\0');
  file.read_at(text.data(), text.size(), 8);
  const json header = parse_header_json(text, path);
  RB_CHECK(header.is_object(), ValueError,
           "{}: the safetensors header is {}, expected a JSON object", p, json_type(header));

  parsed.infos.reserve(header.size());
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      parsed.metadata = parse_metadata(value, path);
    } else {
      parsed.infos.push_back(parse_tensor(key, value, parsed.data_size, path));
    }
  }
  std::vector<const TensorInfo*> pointers;
  pointers.reserve(parsed.infos.size());
  for (const TensorInfo& info : parsed.infos) pointers.push_back(&info);
  check_coverage(std::move(pointers), parsed.data_size, path);
  return parsed;
}

}  // namespace

SafetensorsHeader read_safetensors_header(const fs::path& path) {
  const File file(path);
  ParsedHeader parsed = parse_file_header(file, path);
  SafetensorsHeader header;
  for (const TensorInfo& info : parsed.infos) {
    header.tensors.emplace(info.name,
                           SafetensorsHeader::Entry{info.dtype, info.shape, info.begin, info.end});
  }
  header.metadata = std::move(parsed.metadata);
  header.data_bytes = parsed.data_size;
  return header;
}

SafetensorsFile read_safetensors(const fs::path& path) {
  const File file(path);
  ParsedHeader parsed = parse_file_header(file, path);
  // Only now, with every size bounded by the file's, are buffers allocated,
  // and all of them only if they fit under the memory limit together.
  check_allocation(parsed.data_size,
                   fmt::format("{}: reading its {} tensors", path.string(), parsed.infos.size()));
  SafetensorsFile result;
  result.metadata = std::move(parsed.metadata);
  for (const TensorInfo& info : parsed.infos) {
    Tensor t = Tensor::empty(info.shape, info.dtype);
    if (t.nbytes() > 0) file.read_at(t.raw(), t.nbytes(), parsed.data_start + info.begin);
    result.tensors.emplace(info.name, std::move(t));
  }
  return result;
}

}  // namespace recblocks::io
