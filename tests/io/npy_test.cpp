#include "recblocks/io/npy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "io/test_files.h"
#include "testing/tensor_testing.h"

namespace recblocks::io {
namespace {

using ::recblocks::testing::read_bytes;
using ::recblocks::testing::run_python;
using ::recblocks::testing::TempDir;
using ::recblocks::testing::write_bytes;
using ::testing::HasSubstr;

// A tensor whose element i is i * 1.5 - 7 (float) or i * 3 - 7 (integers),
// so numpy can rebuild it with arange.
Tensor arange(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    switch (dtype) {
      case DType::kFloat32: t.data<float>()[i] = static_cast<float>(i) * 1.5f - 7.0f; break;
      case DType::kInt32: t.data<std::int32_t>()[i] = static_cast<std::int32_t>(i * 3 - 7); break;
      case DType::kInt64: t.data<std::int64_t>()[i] = i * 3 - 7 + (std::int64_t{1} << 40); break;
      case DType::kBFloat16: break;
    }
  }
  return t;
}

std::vector<Shape> test_shapes() {
  return {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 3, 4}, Shape{1, 2, 3, 2}, Shape{0}, Shape{3, 0}};
}

constexpr DType kDTypes[] = {DType::kFloat32, DType::kInt32, DType::kInt64};

// The bytes of a .npy file with the given version and header text (padded
// like numpy unless `pad` is false) followed by `data`.
std::string npy_bytes(int major, std::string header, std::string_view data, bool pad = true) {
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  if (pad) {
    while ((6 + 2 + len_bytes + header.size() + 1) % 64 != 0) header += ' ';
  }
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t i = 0; i < len_bytes; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + std::string(data);
}

std::string float_bytes(std::initializer_list<float> values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

// Reading `path` throws an Error whose message contains every one of `parts`.
void expect_read_error(const std::filesystem::path& path, std::vector<std::string> parts) {
  try {
    read_npy(path);
    FAIL() << "expected an Error reading " << path;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    for (const std::string& part : parts) EXPECT_THAT(e.what(), HasSubstr(part));
  }
}

TEST(Npy, RoundTripsEveryDtypeAndRankZeroToFour) {
  TempDir dir;
  for (DType dtype : kDTypes) {
    for (const Shape& shape : test_shapes()) {
      SCOPED_TRACE(fmt::format("{} {}", dtype_name(dtype), shape));
      const Tensor t = arange(shape, dtype);
      const auto path = dir / "t.npy";
      write_npy(path, t);
      for (bool mapped : {true, false}) {
        const Tensor back = read_npy(path, mapped);
        EXPECT_TRUE(testing::tensors_bitwise_equal(back, t));
      }
    }
  }
}

TEST(Npy, FilesAreByteIdenticalToNumpysAndNumpyReadsTheValues) {
  TempDir dir;
  std::string script = "import numpy as np\nok = True\n";
  int n = 0;
  for (DType dtype : kDTypes) {
    for (const Shape& shape : test_shapes()) {
      const std::string name = fmt::format("ours{}.npy", n++);
      write_npy(dir / name, arange(shape, dtype));
      std::string dims;
      for (std::int64_t d : shape.dims()) dims += std::to_string(d) + ",";
      const std::string expected =
          dtype == DType::kFloat32
              ? fmt::format("(np.arange({0}) * 1.5 - 7).astype('<f4').reshape(({1}))",
                            shape.numel(), dims)
          : dtype == DType::kInt32
              ? fmt::format("(np.arange({0}) * 3 - 7).astype('<i4').reshape(({1}))", shape.numel(),
                            dims)
              : fmt::format("(np.arange({0}) * 3 - 7 + 2**40).astype('<i8').reshape(({1}))",
                            shape.numel(), dims);
      script += fmt::format(
          "a = np.load('{0}', mmap_mode='r')\n"
          "e = {1}\n"
          "if a.dtype != e.dtype or a.shape != e.shape or not np.array_equal(a, e):\n"
          "    print('values differ', '{0}', a.dtype, a.shape); ok = False\n"
          "np.save('numpy_{0}', e)\n"
          "if open('numpy_{0}', 'rb').read() != open('{0}', 'rb').read():\n"
          "    print('bytes differ', '{0}'); ok = False\n",
          name, expected);
    }
  }
  script += "print('OK' if ok else 'FAILED')\n";
  const auto result = run_python(dir.path(), script);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "OK\n");
}

TEST(Npy, ReadsFilesThatNumpyWrote) {
  TempDir dir;
  const auto result = run_python(dir.path(), R"(
import numpy as np
from numpy.lib import format as f
np.save('f4.npy', np.array([[1.5, -2.0, 3.25], [4.0, 5.0, 6.0]], dtype='<f4'))
np.save('i4.npy', np.array([7, -8, 2147483647], dtype='<i4'))
np.save('i8.npy', np.array([[2**40], [-3]], dtype='<i8'))
np.save('f8.npy', np.array([0.1, 1e10, -2.5], dtype='<f8'))
np.save('scalar.npy', np.array(42, dtype='<i4'))
np.save('empty.npy', np.zeros((0, 3), dtype='<f4'))
with open('v2.npy', 'wb') as out:
    f.write_array(out, np.arange(6, dtype='<i4').reshape(2, 3), version=(2, 0))
with open('v3.npy', 'wb') as out:
    f.write_array(out, np.arange(4, dtype='<f4'), version=(3, 0))
print('written')
)");
  ASSERT_EQ(result.exit_code, 0) << result.output;

  const Tensor f4 = read_npy(dir / "f4.npy");
  EXPECT_TRUE(testing::tensors_bitwise_equal(f4, Tensor::from({2, 3}, {1.5, -2, 3.25, 4, 5, 6})));
  const std::vector<std::int32_t> i4 = {7, -8, 2147483647};
  EXPECT_TRUE(testing::tensors_bitwise_equal(read_npy(dir / "i4.npy"),
                                             Tensor::from<std::int32_t>({3}, i4)));
  const std::vector<std::int64_t> i8 = {std::int64_t{1} << 40, -3};
  EXPECT_TRUE(testing::tensors_bitwise_equal(read_npy(dir / "i8.npy"),
                                             Tensor::from<std::int64_t>({2, 1}, i8)));
  // float64 becomes float32.
  EXPECT_TRUE(testing::tensors_bitwise_equal(read_npy(dir / "f8.npy"),
                                             Tensor::from({3}, {0.1f, 1e10f, -2.5f})));
  const Tensor scalar = read_npy(dir / "scalar.npy");
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(scalar.dtype(), DType::kInt32);
  EXPECT_EQ(scalar.item(), 42.0);
  const Tensor empty = read_npy(dir / "empty.npy");
  EXPECT_EQ(empty.shape(), Shape({0, 3}));
  const std::vector<std::int32_t> v2 = {0, 1, 2, 3, 4, 5};
  EXPECT_TRUE(testing::tensors_bitwise_equal(read_npy(dir / "v2.npy"),
                                             Tensor::from<std::int32_t>({2, 3}, v2)));
  EXPECT_TRUE(
      testing::tensors_bitwise_equal(read_npy(dir / "v3.npy"), Tensor::from({4}, {0, 1, 2, 3})));
}

TEST(Npy, WritesThroughTheMappingNeverReachTheFileAndTheMappingOutlivesIt) {
  TempDir dir;
  const auto path = dir / "x.npy";
  write_npy(path, Tensor::from({3}, {1, 2, 3}));
  const std::string before = read_bytes(path);
  Tensor mapped = read_npy(path, /*memory_map=*/true);
  mapped.data<float>()[1] = 99.0f;
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(read_npy(path).item(1), 2.0);
  std::filesystem::remove(path);
  Tensor view = mapped.slice_rows(1, 3);
  mapped = Tensor();
  EXPECT_EQ(view.to_vector(), (std::vector<float>{99, 3}));
}

TEST(Npy, UnpaddedHeaderIsReadThroughACopy) {
  TempDir dir;
  // A header length that leaves the data at an odd offset.
  const auto path = dir / "odd.npy";
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  write_bytes(path, npy_bytes(1, header + " ", float_bytes({2.5f, -1.0f}), /*pad=*/false));
  ASSERT_NE((10 + header.size() + 2) % 4, 0u);
  EXPECT_EQ(read_npy(path).to_vector(), (std::vector<float>{2.5f, -1.0f}));
}

TEST(Npy, HeaderKeysInAnyOrderAndDoubleQuotesAreAccepted) {
  TempDir dir;
  const auto path = dir / "order.npy";
  write_bytes(path, npy_bytes(1, R"({"shape": (1, 2), "fortran_order": False, "descr": "<f4"})",
                              float_bytes({1, 2})));
  const Tensor t = read_npy(path);
  EXPECT_EQ(t.shape(), Shape({1, 2}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2}));
}

TEST(Npy, AtomicWriteReplacesTheFileAndLeavesNoTemporary) {
  TempDir dir;
  const auto path = dir / "a.npy";
  write_npy_atomic(path, Tensor::from({2}, {1, 2}));
  write_npy_atomic(path, Tensor::from({3}, {4, 5, 6}));
  EXPECT_EQ(read_npy(path).to_vector(), (std::vector<float>{4, 5, 6}));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "a.npy");
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(Npy, WritingBFloat16OrAnUndefinedTensorIsRefused) {
  TempDir dir;
  const Tensor bf16 = Tensor::empty({2}, DType::kBFloat16);
  try {
    write_npy(dir / "b.npy", bf16);
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("b.npy"));
    EXPECT_THAT(e.what(), HasSubstr("bfloat16"));
  }
  EXPECT_THROW(write_npy(dir / "u.npy", Tensor()), ValueError);
}

TEST(Npy, WriteErrorNamesTheFile) {
  TempDir dir;
  try {
    write_npy(dir / "missing" / "x.npy", Tensor::from({1}, {1}));
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "missing" / "x.npy").string()));
    EXPECT_THAT(e.what(), HasSubstr("No such file"));
  }
}

TEST(Npy, MissingFileIsAnErrorNamingIt) {
  TempDir dir;
  expect_read_error(dir / "nope.npy", {"cannot open", "No such file"});
}

TEST(Npy, BadMagicAndEmptyFilesAreRefused) {
  TempDir dir;
  write_bytes(dir / "empty.npy", "");
  expect_read_error(dir / "empty.npy", {"not a .npy file", "magic"});
  write_bytes(dir / "text.npy", "userId,movieId\n1,2\n");
  expect_read_error(dir / "text.npy", {"not a .npy file"});
  std::string v4 =
      npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", float_bytes({1}));
  v4[6] = 4;
  write_bytes(dir / "v4.npy", v4);
  expect_read_error(dir / "v4.npy", {"version 4.0", "expected 1.0, 2.0 or 3.0"});
}

TEST(Npy, TruncatedFilesAreRefused) {
  TempDir dir;
  const auto good = dir / "good.npy";
  write_npy(good, arange({4, 5}, DType::kFloat32));
  const std::string bytes = read_bytes(good);
  ASSERT_EQ(bytes.size(), 128u + 80u);

  write_bytes(dir / "no_length.npy", bytes.substr(0, 9));
  expect_read_error(dir / "no_length.npy", {"truncated", "header length"});
  write_bytes(dir / "short_header.npy", bytes.substr(0, 60));
  expect_read_error(dir / "short_header.npy", {"truncated", "60 bytes", "needs 128"});
  write_bytes(dir / "short_data.npy", bytes.substr(0, bytes.size() - 1));
  expect_read_error(dir / "short_data.npy", {"truncated", "shape [4, 5]", "needs 80", "has 79"});
  write_bytes(dir / "long_data.npy", bytes + "x");
  expect_read_error(dir / "long_data.npy", {"corrupt", "needs 80", "has 81"});
}

// Shapes whose byte size wraps around 64 bits: without checked arithmetic
// (16, 2^58) of '<f4' needs 2^64 = 0 bytes, passes the size check with no
// data, and the reader runs off the end of the file.
TEST(Npy, ShapesWhoseByteSizeOverflowsAreRefused) {
  TempDir dir;
  const struct {
    const char* name;
    const char* descr;
    const char* shape;
  } cases[] = {
      {"wraps_to_zero.npy", "<f4", "(16, 288230376151711744)"},
      {"f8_wraps_to_zero.npy", "<f8", "(8, 288230376151711744)"},
      {"elements_overflow.npy", "<i4", "(36028797018963968, 36028797018963968, 0)"},
      {"three_dims.npy", "<i8", "(4294967296, 4294967296, 2)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string header =
        fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", c.descr, c.shape);
    write_bytes(dir / c.name, npy_bytes(1, header, ""));
    expect_read_error(dir / c.name, {"too large", "overflows", c.descr});
  }
}

TEST(Npy, BadHeaderDictionariesAreRefused) {
  TempDir dir;
  const struct {
    const char* name;
    const char* header;
    const char* message;
  } cases[] = {
      {"not_dict.npy", "['descr', '<f4']", "expected '{'"},
      {"missing_key.npy", "{'descr': '<f4', 'shape': (1,), }", "needs the keys"},
      {"unknown_key.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
       "unknown key 'x'"},
      {"bad_bool.npy", "{'descr': '<f4', 'fortran_order': maybe, 'shape': (1,), }",
       "expected True or False"},
      {"bad_shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
       "expected a non-negative integer"},
      {"unterminated.npy", "{'descr': '<f4", "unterminated string"},
      {"trailing.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x",
       "expected the end of the header"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_bytes(dir / c.name, npy_bytes(1, c.header, float_bytes({1})));
    expect_read_error(dir / c.name, {"bad .npy header", c.message});
  }
}

TEST(Npy, UnsupportedDtypesFortranOrderAndHighRanksFromNumpyAreRefused) {
  TempDir dir;
  const auto result = run_python(dir.path(), R"(
import numpy as np
np.save('u1.npy', np.arange(3, dtype='|u1'))
np.save('i2.npy', np.arange(3, dtype='<i2'))
np.save('b1.npy', np.array([True, False]))
np.save('be.npy', np.arange(3, dtype='>f4'))
np.save('fortran.npy', np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3)))
np.save('rank5.npy', np.zeros((1, 2, 1, 2, 1), dtype='<f4'))
print('written')
)");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  expect_read_error(dir / "u1.npy", {"unsupported dtype '|u1'", "'<f4', '<i4', '<i8'"});
  expect_read_error(dir / "i2.npy", {"unsupported dtype '<i2'"});
  expect_read_error(dir / "b1.npy", {"unsupported dtype '|b1'"});
  expect_read_error(dir / "be.npy", {"unsupported dtype '>f4'"});
  expect_read_error(dir / "fortran.npy", {"Fortran-order", "np.ascontiguousarray"});
  expect_read_error(dir / "rank5.npy", {"rank 5", "(1, 2, 1, 2, 1)", "maximum rank 4"});
}

TEST(Npy, AShapeWhoseByteSizeOverflowsIsRefusedNotWrapped) {
  TempDir dir;
  // 16 * 2^58 float32 = 2^64 bytes: wrapped to 0, it matched an empty data
  // section and the reader went on to a tensor of 2^62 elements.
  write_bytes(
      dir / "wrap.npy",
      npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (16, 288230376151711744), }",
                ""));
  expect_read_error(dir / "wrap.npy",
                    {"shape (16, 288230376151711744)", "'<f4'", "too large", "overflows"});
  // Fits in 64 bits but not in memory nor in the file: a truncated file.
  write_bytes(
      dir / "huge.npy",
      npy_bytes(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1000000, 1000000), }",
                "12345678"));
  expect_read_error(dir / "huge.npy",
                    {"truncated", "[1000000, 1000000]", "needs 8000000000000", "has 8"});
  // A zero dimension does not excuse the others from overflowing.
  write_bytes(dir / "empty.npy",
              npy_bytes(1,
                        "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 36028797018963968, "
                        "36028797018963968), }",
                        ""));
  expect_read_error(dir / "empty.npy", {"too large"});
}

TEST(Npy, BinaryBytesInABadHeaderAreEscapedAndCut) {
  TempDir dir;
  std::string header = "{'descr': '<f4', 'fortran_order': \x01\xff\x80";
  header += std::string(5000, 'z');
  write_bytes(dir / "binary.npy", npy_bytes(1, header, float_bytes({1})));
  try {
    read_npy(dir / "binary.npy");
    FAIL() << "no error";
  } catch (const ValueError& e) {
    const std::string what = e.what();
    EXPECT_THAT(what, HasSubstr("bad .npy header"));
    EXPECT_THAT(what, HasSubstr("\\x01\\xFF\\x80"));
    EXPECT_THAT(what, HasSubstr("bytes)"));
    EXPECT_LT(what.size(), 400u) << what;
    for (const char c : what) {
      EXPECT_TRUE(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7F)
          << "byte " << static_cast<int>(static_cast<unsigned char>(c)) << " in: " << what;
    }
  }
}

}  // namespace
}  // namespace recblocks::io
