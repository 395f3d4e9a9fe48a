#include "recblocks/io/npy.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/atomic_internal.h"
#include "recblocks/core/checked.h"
#include "recblocks/io/paths.h"

// Layout of a .npy file (numpy/lib/format.py):
//   "\x93NUMPY" major minor
//   header length: uint16 LE (1.0) or uint32 LE (2.0, 3.0)
//   header: a Python dict literal, latin-1 (1.0, 2.0) or UTF-8 (3.0),
//           {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//           padded with spaces and a final '\n' so that the data starts
//           at a multiple of 64 bytes
//   data: numel * itemsize bytes, C order

namespace recblocks::io {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kAlign = 64;
constexpr std::size_t kGrowthAxisMaxDigits = 21;  // numpy's spare room in the header

// How the file's element type maps onto a tensor.
struct NpyType {
  DType dtype;
  std::size_t file_itemsize;
  bool from_float64;  // '<f8' is read as float32
};

std::optional<NpyType> parse_descr(std::string_view descr) {
  if (descr == "<f4") return NpyType{DType::kFloat32, 4, false};
  if (descr == "<i4") return NpyType{DType::kInt32, 4, false};
  if (descr == "<i8") return NpyType{DType::kInt64, 8, false};
  if (descr == "<f8") return NpyType{DType::kFloat32, 8, true};
  return std::nullopt;
}

std::string_view descr_of(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "<f4";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kBFloat16: break;
  }
  return {};
}

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

// A tiny parser for the dict literal numpy writes. Errors say what was
// expected at which character.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::filesystem::path& path)
      : text_(text), path_(path) {}

  Header parse() {
    Header header;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (!peek_is('}')) {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        header.descr = string_literal();
        has_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        has_order = true;
      } else if (key == "shape") {
        header.shape = shape();
        has_shape = true;
      } else {
        fail(fmt::format("unknown key {} (expected 'descr', 'fortran_order', 'shape')",
                         quoted_excerpt(key, 40)));
      }
      if (!peek_is(',')) break;
      expect(',');
    }
    expect('}');
    skip_space();
    if (pos_ != text_.size()) fail("expected the end of the header after '}'");
    if (!has_descr || !has_order || !has_shape) {
      fail("the header needs the keys 'descr', 'fortran_order' and 'shape'");
    }
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ValueError(fmt::format("{}: bad .npy header at character {}: {}; header: {}",
                                 path_.string(), pos_, what, quoted_excerpt(text_, 120)));
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool peek_is(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  void expect(char c) {
    if (!peek_is(c)) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      fail("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const std::size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.substr(pos_).starts_with(word)) {
        pos_ += std::strlen(word);
        return value;
      }
    }
    fail("expected True or False");
  }
  std::int64_t integer() {
    skip_space();
    const std::size_t start = pos_;
    std::int64_t value = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      if (value > (std::int64_t{1} << 55)) fail("dimension too large");
      value = value * 10 + (text_[pos_++] - '0');
    }
    if (pos_ == start) fail("expected a non-negative integer");
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2's long
    return value;
  }
  std::vector<std::int64_t> shape() {
    std::vector<std::int64_t> dims;
    expect('(');
    while (!peek_is(')')) {
      dims.push_back(integer());
      if (!peek_is(',')) break;
      expect(',');
    }
    expect(')');
    return dims;
  }

  std::string_view text_;
  const std::filesystem::path& path_;
  std::size_t pos_ = 0;
};

[[noreturn]] void throw_errno(const std::string& what, const std::filesystem::path& path) {
  throw Error(fmt::format("{}: {}: {}", path.string(), what, std::strerror(errno)));
}

// A read-only view of a whole file through a private mapping. Pages are
// copy-on-write, so writes through the tensor never reach the file.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    check_input_file(path);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot open .npy file", path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      throw_errno("cannot stat", path);
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw_errno("cannot memory-map", path);
      }
      data_ = static_cast<std::byte*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

std::uint32_t read_le(const std::byte* p, int bytes) {
  std::uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

struct Parsed {
  NpyType type;
  Shape shape;
  std::size_t data_offset;
};

Parsed parse_file(const MappedFile& file, const std::filesystem::path& path) {
  const std::byte* bytes = file.data();
  const std::size_t size = file.size();
  const auto text_at = [&](std::size_t offset, std::size_t n) {
    return std::string_view(reinterpret_cast<const char*>(bytes) + offset, n);
  };
  RB_CHECK(size >= kMagic.size() + 2 && text_at(0, kMagic.size()) == kMagic, ValueError,
           "{}: not a .npy file (the file does not start with the magic string \\x93NUMPY)",
           path.string());
  const int major = static_cast<int>(bytes[6]);
  const int minor = static_cast<int>(bytes[7]);
  RB_CHECK(major >= 1 && major <= 3 && minor == 0, ValueError,
           "{}: unsupported .npy version {}.{} (expected 1.0, 2.0 or 3.0)", path.string(), major,
           minor);
  const int len_bytes = major == 1 ? 2 : 4;
  RB_CHECK(size >= 8 + static_cast<std::size_t>(len_bytes), ValueError,
           "{}: truncated .npy file: {} bytes, the header length is missing", path.string(), size);
  const std::size_t header_len = read_le(bytes + 8, len_bytes);
  const std::size_t data_offset = 8 + len_bytes + header_len;
  RB_CHECK(data_offset <= size, ValueError,
           "{}: truncated .npy file: {} bytes, the header alone needs {}", path.string(), size,
           data_offset);
  const Header header = HeaderParser(text_at(8 + len_bytes, header_len), path).parse();

  const std::optional<NpyType> type = parse_descr(header.descr);
  RB_CHECK(type.has_value(), ValueError,
           "{}: unsupported dtype {} (recblocks reads '<f4', '<i4', '<i8' and '<f8')",
           path.string(), quoted_excerpt(header.descr, 40));
  RB_CHECK(!header.fortran_order, ValueError,
           "{}: Fortran-order arrays are not supported (save a C-order array: "
           "np.ascontiguousarray)",
           path.string());
  RB_CHECK(header.shape.size() <= static_cast<std::size_t>(Shape::kMaxRank), ValueError,
           "{}: rank {} (shape ({})) exceeds the maximum rank {}", path.string(),
           header.shape.size(), fmt::join(header.shape, ", "), Shape::kMaxRank);
  // The byte size in checked arithmetic: a huge shape must not wrap around
  // to a small size that the file's length then matches.
  const std::optional<std::int64_t> needed =
      checked_nbytes(header.shape, static_cast<std::int64_t>(type->file_itemsize));
  RB_CHECK(needed.has_value() &&
               *needed / static_cast<std::int64_t>(type->file_itemsize) <= Shape::kMaxElements,
           ValueError,
           "{}: shape ({}) of '{}' is too large: its size overflows 64 bits (the file has {} "
           "data bytes)",
           path.string(), fmt::join(header.shape, ", "), header.descr, size - data_offset);
  const Shape shape{std::span<const std::int64_t>(header.shape)};
  const auto data_bytes = static_cast<std::size_t>(*needed);
  RB_CHECK(size - data_offset == data_bytes, ValueError,
           "{}: {} .npy file: shape {} of '{}' needs {} data bytes, the file has {}", path.string(),
           size - data_offset < data_bytes ? "truncated" : "corrupt", shape, header.descr,
           data_bytes, size - data_offset);
  return {*type, shape, data_offset};
}

Tensor converted_from_float64(const std::byte* data, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  float* out = t.data<float>();
  for (std::int64_t i = 0; i < shape.numel(); ++i) {
    double v;
    std::memcpy(&v, data + i * sizeof(double), sizeof v);
    out[i] = static_cast<float>(v);
  }
  return t;
}

// numpy's header for `tensor`, byte for byte (format.py: _write_array_header).
std::string header_of(const Tensor& tensor) {
  const auto dims = tensor.shape().dims();
  std::string shape = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    shape += std::to_string(dims[i]);
    shape += (dims.size() == 1) ? "," : (i + 1 < dims.size() ? ", " : "");
  }
  shape += ")";
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                 descr_of(tensor.dtype()), shape);
  if (!dims.empty()) dict.append(kGrowthAxisMaxDigits - std::to_string(dims[0]).size(), ' ');

  // Version 1.0 unless its 16-bit header length is too small.
  const std::size_t hlen = dict.size() + 1;
  const auto padding = [&](std::size_t len_bytes) {
    return kAlign - (kMagic.size() + 2 + len_bytes + hlen) % kAlign;
  };
  const bool v1 = hlen + padding(2) <= 0xFFFF;
  const std::size_t len_bytes = v1 ? 2 : 4;
  const std::size_t pad = padding(len_bytes);
  const std::size_t total = hlen + pad;

  std::string out(kMagic);
  out += static_cast<char>(v1 ? 1 : 2);
  out += '\0';
  for (std::size_t i = 0; i < len_bytes; ++i) out += static_cast<char>((total >> (8 * i)) & 0xFF);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

void write_all(int fd, const void* data, std::size_t n, const std::filesystem::path& path) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("write failed", path);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

Tensor read_npy(const std::filesystem::path& path, bool memory_map) {
  auto file = std::make_shared<MappedFile>(path);
  const Parsed parsed = parse_file(*file, path);
  const std::byte* data = file->data() + parsed.data_offset;
  if (parsed.type.from_float64) return converted_from_float64(data, parsed.shape);

  // numpy aligns data to 64 bytes; a hand-made file may not be aligned, and
  // typed access needs it, so such a file is copied.
  const bool aligned = parsed.data_offset % dtype_size(parsed.type.dtype) == 0;
  if (memory_map && aligned) {
    std::byte* mutable_data = file->data() + parsed.data_offset;
    return Tensor::borrow(mutable_data, parsed.shape, parsed.type.dtype,
                          std::shared_ptr<const void>(file, file.get()));
  }
  Tensor t = Tensor::empty(parsed.shape, parsed.type.dtype);
  if (t.nbytes() > 0) std::memcpy(t.raw(), data, t.nbytes());
  return t;
}

NpyInfo read_npy_info(const std::filesystem::path& path) {
  const MappedFile file(path);  // only the header's pages are touched
  const Parsed parsed = parse_file(file, path);
  return {parsed.type.dtype, parsed.shape, parsed.data_offset, parsed.type.file_itemsize};
}

namespace {

// pread of exactly n bytes at `offset`, or an Error naming the file.
void pread_all(const std::filesystem::path& path, std::byte* to, std::size_t n, off_t offset,
               std::int64_t begin, std::int64_t end) {
  if (n == 0) return;
  check_input_file(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open .npy file", path);
  while (n > 0) {
    const ssize_t r = ::pread(fd, to, n, offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      if (r < 0) throw_errno("read failed", path);
      throw Error(
          fmt::format("{}: truncated .npy file: rows [{}, {}) end past the file's end "
                      "(was it changed after its header was read?)",
                      path.string(), begin, end));
    }
    to += r;
    offset += r;
    n -= static_cast<std::size_t>(r);
  }
  ::close(fd);
}

// The shape of rows [begin, end) of the file, checked against its rows.
Shape rows_shape(const std::filesystem::path& path, const NpyInfo& info, std::int64_t begin,
                 std::int64_t end) {
  const std::int64_t rows = info.shape.rank() == 0 ? 1 : info.shape[0];
  RB_CHECK(0 <= begin && begin <= end && end <= rows, ValueError,
           "{}: rows [{}, {}) out of range for {} rows", path.string(), begin, end, rows);
  return info.shape.rank() == 0 ? info.shape : info.shape.with(0, end - begin);
}

}  // namespace

void read_npy_rows_into(const std::filesystem::path& path, const NpyInfo& info, std::int64_t begin,
                        std::int64_t end, Tensor& out) {
  const Shape shape = rows_shape(path, info, begin, end);
  RB_CHECK(out.defined() && out.dtype() == info.dtype && out.shape() == shape, ValueError,
           "{}: rows [{}, {}) are {} {}, the tensor to read them into is {} {}", path.string(),
           begin, end, dtype_name(info.dtype), shape, dtype_name(out.dtype()), out.shape());
  const auto row_elements =
      static_cast<std::size_t>(info.shape.rank() == 0 ? 1 : info.shape.inner(0));
  const std::size_t row_bytes = row_elements * info.file_itemsize;
  const std::size_t n = static_cast<std::size_t>(end - begin) * row_bytes;
  const auto offset =
      static_cast<off_t>(info.data_offset + static_cast<std::size_t>(begin) * row_bytes);
  if (info.file_itemsize == dtype_size(info.dtype)) {
    pread_all(path, static_cast<std::byte*>(out.raw()), n, offset, begin, end);
    return;
  }
  // A '<f8' file: read, then narrowed as read_npy narrows it.
  std::vector<std::byte> staging(n);
  pread_all(path, staging.data(), n, offset, begin, end);
  const Tensor narrowed = converted_from_float64(staging.data(), shape);
  if (narrowed.nbytes() > 0) std::memcpy(out.raw(), narrowed.raw(), narrowed.nbytes());
}

Tensor read_npy_rows(const std::filesystem::path& path, const NpyInfo& info, std::int64_t begin,
                     std::int64_t end) {
  Tensor out = Tensor::empty(rows_shape(path, info, begin, end), info.dtype);
  read_npy_rows_into(path, info, begin, end, out);
  return out;
}

void write_npy(const std::filesystem::path& path, const Tensor& tensor) {
  RB_CHECK(tensor.defined(), ValueError, "write_npy {}: the tensor is undefined", path.string());
  RB_CHECK(!descr_of(tensor.dtype()).empty(), ValueError,
           "write_npy {}: dtype {} has no .npy equivalent (expected float32, int32 or int64)",
           path.string(), dtype_name(tensor.dtype()));
  const std::string header = header_of(tensor);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("cannot create .npy file", path);
  try {
    write_all(fd, header.data(), header.size(), path);
    write_all(fd, tensor.raw(), tensor.nbytes(), path);
    if (::fsync(fd) != 0) throw_errno("fsync failed", path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw_errno("close failed", path);
}

void write_npy_atomic(const std::filesystem::path& path, const Tensor& tensor) {
  const std::filesystem::path temporary = detail::temporary_sibling(path, "tmp");
  try {
    write_npy(temporary, tensor);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  detail::rename_into_place(temporary, path);
}

}  // namespace recblocks::io
