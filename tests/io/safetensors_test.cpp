#include "recblocks/io/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdio.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "io/test_files.h"
#include "recblocks/core/memory.h"

namespace recblocks::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::recblocks::testing::PythonResult;
using ::recblocks::testing::read_bytes;
using ::recblocks::testing::TempDir;
using ::recblocks::testing::write_bytes;
using ::testing::HasSubstr;

// Runs `script` in `dir` with the reference Python (numpy + safetensors).
PythonResult run_reference_python(const fs::path& dir, std::string_view script) {
  return testing::run_python(dir, script, RECBLOCKS_TEST_PYTHON);
}

// The JSON a script printed on its line "RESULT {...}".
json result_json(const PythonResult& r) {
  const std::size_t at = r.output.rfind("RESULT ");
  if (at == std::string::npos) return json();
  return json::parse(r.output.substr(at + 7));
}

// Element i is i * 1.5 - 7 (float32) or i * 3 - 7 (int32; int64 plus 2^40,
// beyond 32 bits).
Tensor arange(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    switch (dtype) {
      case DType::kFloat32: t.data<float>()[i] = static_cast<float>(i) * 1.5f - 7.0f; break;
      case DType::kInt32: t.data<std::int32_t>()[i] = static_cast<std::int32_t>(i * 3 - 7); break;
      case DType::kInt64: t.data<std::int64_t>()[i] = i * 3 - 7 + (std::int64_t{1} << 40); break;
      case DType::kBFloat16: {
        const auto bits = static_cast<std::uint16_t>(0x3F80 + i);  // 1.0, 1.0078125, ...
        std::memcpy(static_cast<char*>(t.raw()) + 2 * i, &bits, 2);
        break;
      }
    }
  }
  return t;
}

// Several dtypes and ranks, a scalar and an empty tensor, with sizes that
// are not multiples of 8 bytes.
std::map<std::string, Tensor> mixed_tensors() {
  return {
      {"dense/kernel", arange({3, 5}, DType::kFloat32)},
      {"ids", arange({7}, DType::kInt64)},
      {"counts", arange({2, 3}, DType::kInt32)},
      {"scale", Tensor::from({}, {0.125f})},
      {"empty", Tensor::zeros({0, 4})},
      {"a_first", arange({3}, DType::kInt32)},
  };
}

const std::map<std::string, std::string> kMetadata = {
    {"format", "recblocks"},
    {"note", "quotes \" backslash \\ newline \n tab \t caf\xc3\xa9"},
    {"empty", ""},
};

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

void expect_same_tensors(const std::map<std::string, Tensor>& actual,
                         const std::map<std::string, Tensor>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, tensor] : expected) {
    ASSERT_TRUE(actual.contains(name)) << name;
    const Tensor& got = actual.at(name);
    EXPECT_EQ(got.shape(), tensor.shape()) << name;
    EXPECT_EQ(got.dtype(), tensor.dtype()) << name;
    EXPECT_TRUE(same_bytes(got, tensor)) << name;
  }
}

// The 8-byte length and the JSON header of a file's bytes.
struct Layout {
  std::uint64_t header_size = 0;
  std::string header_text;
  json header;
};

Layout layout_of(const std::string& bytes) {
  Layout l;
  for (int i = 7; i >= 0; --i)
    l.header_size = (l.header_size << 8) | static_cast<std::uint8_t>(bytes[i]);
  l.header_text = bytes.substr(8, l.header_size);
  l.header = json::parse(l.header_text);
  return l;
}

// A file: the 8-byte length of `header`, `header`, `data`.
std::string file_bytes(std::string_view header, std::string_view data) {
  std::string out(8, '\0');
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  out += header;
  out += data;
  return out;
}

std::string file_bytes_with_length(std::uint64_t length, std::string_view rest) {
  std::string out(8, '\0');
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return out + std::string(rest);
}

// Reading `path` throws an Error naming it whose message contains `parts`.
void expect_read_error(const fs::path& path, const std::vector<std::string>& parts) {
  try {
    read_safetensors(path);
    ADD_FAILURE() << "expected an Error reading " << path;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    for (const std::string& part : parts) EXPECT_THAT(e.what(), HasSubstr(part));
  }
}

TEST(Safetensors, RoundTripsTensorsAndMetadataBitIdentically) {
  TempDir dir;
  std::map<std::string, Tensor> tensors = mixed_tensors();
  tensors.emplace("half", arange({2, 2}, DType::kBFloat16));
  const fs::path path = dir / "model.safetensors";
  write_safetensors(path, tensors, kMetadata);

  const SafetensorsFile file = read_safetensors(path);
  expect_same_tensors(file.tensors, tensors);
  EXPECT_EQ(file.metadata, kMetadata);
  EXPECT_EQ(file.tensors.at("scale").rank(), 0);
  EXPECT_EQ(file.tensors.at("scale").item(), 0.125);
  EXPECT_EQ(file.tensors.at("ids").item(6), static_cast<double>(11 + (std::int64_t{1} << 40)));

  // save -> load -> save is byte-identical.
  const fs::path again = dir / "again.safetensors";
  write_safetensors(again, file.tensors, file.metadata);
  EXPECT_EQ(read_bytes(again), read_bytes(path));
}

TEST(Safetensors, RoundTripsNoTensorsAndNoMetadata) {
  TempDir dir;
  write_safetensors(dir / "e.safetensors", {});
  EXPECT_EQ(read_bytes(dir / "e.safetensors"), file_bytes("{}      ", ""));
  const SafetensorsFile file = read_safetensors(dir / "e.safetensors");
  EXPECT_TRUE(file.tensors.empty());
  EXPECT_TRUE(file.metadata.empty());
}

// The bytes the reference implementation's own test expects
// (safetensors/src/tensor.rs, test_serialization).
TEST(Safetensors, WritesTheReferenceBytes) {
  TempDir dir;
  write_safetensors(dir / "ref.safetensors",
                    {{"attn.0", Tensor::from({1, 2, 3}, {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f})}});
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header.size(), 64u);
  const float values[] = {0, 1, 2, 3, 4, 5};
  EXPECT_EQ(read_bytes(dir / "ref.safetensors"),
            file_bytes(header, std::string_view(reinterpret_cast<const char*>(values), 24)));
}

TEST(Safetensors, AlignsEveryTensorAndLaysThemOutInDtypeThenNameOrder) {
  TempDir dir;
  std::map<std::string, Tensor> tensors = mixed_tensors();
  tensors.emplace("half", arange({3}, DType::kBFloat16));
  tensors.emplace("z_long", arange({1}, DType::kInt64));
  const fs::path path = dir / "aligned.safetensors";
  write_safetensors(path, tensors, kMetadata);
  const std::string bytes = read_bytes(path);
  const Layout l = layout_of(bytes);

  // The header is padded with spaces so that the data starts at a multiple of 8.
  EXPECT_EQ((8 + l.header_size) % 8, 0u);
  const std::size_t json_end = l.header_text.rfind('}') + 1;
  EXPECT_EQ(l.header_text.substr(json_end), std::string(l.header_size - json_end, ' '));
  EXPECT_EQ(l.header_text.substr(0, 16), "{\"__metadata__\":");

  struct Placed {
    std::uint64_t begin, end;
    std::string dtype, name;
  };
  std::vector<Placed> placed;
  for (const auto& [name, info] : l.header.items()) {
    if (name == "__metadata__") continue;
    placed.push_back({info["data_offsets"][0], info["data_offsets"][1], info["dtype"], name});
  }
  ASSERT_EQ(placed.size(), tensors.size());
  std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
    return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
  });
  const std::map<std::string, int> rank = {{"I64", 0}, {"F32", 1}, {"I32", 2}, {"BF16", 3}};
  const std::map<std::string, std::uint64_t> size = {
      {"I64", 8}, {"F32", 4}, {"I32", 4}, {"BF16", 2}};
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < placed.size(); ++i) {
    const Placed& p = placed[i];
    EXPECT_EQ(p.begin, covered) << p.name;  // contiguous
    covered = p.end;
    EXPECT_EQ((8 + l.header_size + p.begin) % size.at(p.dtype), 0u) << p.name;
    if (i > 0) {
      const Placed& q = placed[i - 1];
      EXPECT_TRUE(rank.at(q.dtype) < rank.at(p.dtype) ||
                  (rank.at(q.dtype) == rank.at(p.dtype) && q.name < p.name))
          << q.name << " before " << p.name;
    }
  }
  EXPECT_EQ(8 + l.header_size + covered, bytes.size());
  EXPECT_EQ(placed.front().name, "ids");
  EXPECT_EQ(placed.back().name, "half");
}

TEST(Safetensors, TensorsWhoseSizesAreMultiplesOfEightStartAtMultiplesOfEight) {
  TempDir dir;
  const fs::path path = dir / "eight.safetensors";
  write_safetensors(path,
                    {{"b", arange({2, 4}, DType::kFloat32)},
                     {"a", arange({6}, DType::kInt32)},
                     {"c", arange({3}, DType::kInt64)},
                     {"d", arange({4}, DType::kBFloat16)}},
                    {{"k", "v"}});
  const std::string bytes = read_bytes(path);
  const Layout l = layout_of(bytes);
  for (const auto& [name, info] : l.header.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ((8 + l.header_size + info["data_offsets"][0].get<std::uint64_t>()) % 8, 0u) << name;
  }
}

TEST(Safetensors, WriteReplacesAnExistingFileAndLeavesNoTemporary) {
  TempDir dir;
  const fs::path path = dir / "w.safetensors";
  write_safetensors(path, {{"x", arange({4}, DType::kFloat32)}});
  write_safetensors(path, {{"y", arange({2}, DType::kInt64)}}, {{"v", "2"}});
  const SafetensorsFile file = read_safetensors(path);
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_TRUE(file.tensors.contains("y"));
  EXPECT_EQ(file.metadata.at("v"), "2");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    names.push_back(entry.path().filename());
  EXPECT_THAT(names, ::testing::ElementsAre("w.safetensors"));
}

TEST(Safetensors, WriteRejectsBadInputsWithoutLeavingAFile) {
  TempDir dir;
  const fs::path path = dir / "bad.safetensors";
  const auto expect_write_error = [&](const fs::path& target,
                                      const std::map<std::string, Tensor>& tensors,
                                      const std::map<std::string, std::string>& metadata,
                                      const std::vector<std::string>& parts) {
    try {
      write_safetensors(target, tensors, metadata);
      ADD_FAILURE() << "expected an Error writing " << target;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(target.string()));
      for (const std::string& part : parts) EXPECT_THAT(e.what(), HasSubstr(part));
    }
  };
  expect_write_error(path, {{"__metadata__", arange({2}, DType::kFloat32)}}, {},
                     {"'__metadata__' is reserved"});
  expect_write_error(path, {{"w", Tensor()}}, {}, {"tensor 'w' is undefined"});
  expect_write_error(path, {{"bad\xff", arange({2}, DType::kFloat32)}}, {}, {"not valid UTF-8"});
  expect_write_error(path, {}, {{"k", "\xc3"}}, {"metadata key 'k'", "not valid UTF-8"});
  expect_write_error(dir / "missing" / "x.safetensors", {{"w", arange({2}, DType::kFloat32)}}, {},
                     {"cannot create", "No such file or directory"});
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// numpy and Python's safetensors read our file: both the package and a
// by-hand parse (np.frombuffer at the header's offsets) give our values.
TEST(Safetensors, PythonReadsOurFile) {
  TempDir dir;
  const std::map<std::string, Tensor> tensors = mixed_tensors();
  write_safetensors(dir / "ours.safetensors", tensors, kMetadata);
  const PythonResult r = run_reference_python(dir.path(), R"PY(
import json, struct
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

path = "ours.safetensors"
loaded = load_file(path)
with safe_open(path, framework="np") as f:
    metadata = f.metadata()
raw = open(path, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
header_metadata = header.pop("__metadata__", None)
assert sorted(loaded) == sorted(header), (sorted(loaded), sorted(header))
numpy_dtype = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8")}
out = {"metadata": metadata, "header_metadata": header_metadata, "tensors": {}}
for name, info in header.items():
    begin, end = info["data_offsets"]
    dtype = numpy_dtype[info["dtype"]]
    start = 8 + n + begin
    by_hand = np.frombuffer(raw[start:8 + n + end], dtype=dtype).reshape(info["shape"])
    ref = loaded[name]
    assert ref.dtype == by_hand.dtype and ref.shape == by_hand.shape, name
    assert np.array_equal(ref, by_hand), name
    out["tensors"][name] = {"dtype": str(ref.dtype), "shape": list(ref.shape),
                            "values": ref.ravel().tolist(), "sum": ref.sum().item(),
                            "start": start}
print("RESULT " + json.dumps(out))
)PY");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json out = result_json(r);
  ASSERT_TRUE(out.is_object()) << r.output;
  using StringMap = std::map<std::string, std::string>;
  EXPECT_EQ(out["metadata"].get<StringMap>(), kMetadata);
  EXPECT_EQ(out["header_metadata"].get<StringMap>(), kMetadata);
  ASSERT_EQ(out["tensors"].size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    SCOPED_TRACE(name);
    const json& t = out["tensors"][name];
    EXPECT_EQ(t["dtype"], dtype_name(tensor.dtype()));
    EXPECT_EQ(
        t["shape"].get<std::vector<std::int64_t>>(),
        std::vector<std::int64_t>(tensor.shape().dims().begin(), tensor.shape().dims().end()));
    EXPECT_EQ(t["start"].get<std::uint64_t>() % dtype_size(tensor.dtype()), 0u);
    ASSERT_EQ(t["values"].size(), static_cast<std::size_t>(tensor.numel()));
    double sum = 0;
    for (std::int64_t i = 0; i < tensor.numel(); ++i) {
      if (tensor.dtype() == DType::kFloat32) {
        EXPECT_EQ(t["values"][i].get<double>(), tensor.item(i)) << i;
      } else {
        EXPECT_EQ(t["values"][i].get<std::int64_t>(), static_cast<std::int64_t>(tensor.item(i)))
            << i;
      }
      sum += tensor.item(i);
    }
    EXPECT_DOUBLE_EQ(t["sum"].get<double>(), sum);
  }
}

// Python's save_file writes a file; we read its values, and writing them
// again gives the very same bytes.
TEST(Safetensors, ReadsPythonsFileAndWritesItBackByteIdentically) {
  TempDir dir;
  const PythonResult r = run_reference_python(dir.path(), R"PY(
import numpy as np
from safetensors.numpy import save_file

tensors = {
    "weight": np.arange(12, dtype=np.float32).reshape(4, 3) * np.float32(0.25) - np.float32(1),
    "bias": np.array([0.1, -0.2, 1e-30], dtype=np.float32),
    "ids": np.array([0, -1, 2**40 + 3, -(2**62), 7], dtype=np.int64),
    "counts": np.arange(6, dtype=np.int32).reshape(2, 3) - 2,
    "scalar": np.array(3.5, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
}
save_file(tensors, "python.safetensors", metadata={"format": "np"})
print("RESULT {}")
)PY");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const SafetensorsFile file = read_safetensors(dir / "python.safetensors");
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "np"}}));
  std::vector<float> weight(12);
  for (int i = 0; i < 12; ++i) weight[i] = static_cast<float>(i) * 0.25f - 1.0f;
  const std::vector<std::int64_t> ids = {0, -1, (std::int64_t{1} << 40) + 3,
                                         -(std::int64_t{1} << 62), 7};
  const std::vector<std::int32_t> counts = {-2, -1, 0, 1, 2, 3};
  const std::map<std::string, Tensor> expected = {
      {"weight", Tensor::from<float>({4, 3}, weight)},
      {"bias", Tensor::from({3}, {0.1f, -0.2f, 1e-30f})},
      {"ids", Tensor::from<std::int64_t>({5}, ids)},
      {"counts", Tensor::from<std::int32_t>({2, 3}, counts)},
      {"scalar", Tensor::from({}, {3.5f})},
      {"empty", Tensor::zeros({0, 3})},
  };
  expect_same_tensors(file.tensors, expected);

  write_safetensors(dir / "ours.safetensors", file.tensors, file.metadata);
  EXPECT_EQ(read_bytes(dir / "ours.safetensors"), read_bytes(dir / "python.safetensors"));
}

TEST(Safetensors, ReadsUnpaddedAndUnalignedFiles) {
  TempDir dir;
  // A header of odd length, so the data start at an odd offset of the file;
  // entries out of data order, whitespace inside the JSON.
  std::string header = R"({ "b" : {"shape": [], "data_offsets": [12, 16], "dtype": "I32"}, )"
                       R"("c": {"dtype": "F32", "shape": [2, 0], "data_offsets": [16, 16]}, )"
                       R"("a": {"dtype": "I32", "shape": [3], "data_offsets": [0, 12]}})";
  if (header.size() % 2 == 0) header += '\n';
  const std::int32_t values[] = {5, -6, 7, 42};
  write_bytes(dir / "odd.safetensors",
              file_bytes(header, std::string_view(reinterpret_cast<const char*>(values), 16)));
  const SafetensorsFile file = read_safetensors(dir / "odd.safetensors");
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors.at("a").shape(), Shape({3}));
  EXPECT_EQ(file.tensors.at("a").item(0), 5);
  EXPECT_EQ(file.tensors.at("a").item(1), -6);
  EXPECT_EQ(file.tensors.at("a").item(2), 7);
  EXPECT_EQ(file.tensors.at("b").rank(), 0);
  EXPECT_EQ(file.tensors.at("b").item(), 42);
  EXPECT_EQ(file.tensors.at("c").shape(), Shape({2, 0}));
  EXPECT_EQ(file.tensors.at("c").dtype(), DType::kFloat32);
  EXPECT_TRUE(file.metadata.empty());
}

TEST(Safetensors, EveryTruncationIsAnError) {
  TempDir dir;
  write_safetensors(dir / "full.safetensors", mixed_tensors(), kMetadata);
  const std::string full = read_bytes(dir / "full.safetensors");
  const std::uint64_t header_end = 8 + layout_of(full).header_size;
  const fs::path path = dir / "cut.safetensors";
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    SCOPED_TRACE(cut);
    write_bytes(path, full.substr(0, cut));
    if (cut < 8) {
      expect_read_error(path,
                        {fmt::format("{} bytes, shorter than the 8-byte header length", cut)});
    } else if (cut < header_end) {
      expect_read_error(path, {"truncated safetensors file", fmt::format("{} bytes", cut)});
    } else {
      expect_read_error(path, {"end beyond the data section", "truncated"});
    }
  }
}

struct Malformed {
  std::string what;
  std::string bytes;
  std::vector<std::string> parts;
};

std::vector<Malformed> malformed_files() {
  const std::string eight(8, 'x');
  // {"<name>":{<body>}}
  const auto tensor = [](std::string_view name, std::string_view body) {
    return fmt::format(R"("{}":{{{}}})", name, body);
  };
  // A header of two tensors.
  const auto two = [&](std::string_view a, std::string_view a_body, std::string_view b,
                       std::string_view b_body) {
    return fmt::format("{{{},{}}}", tensor(a, a_body), tensor(b, b_body));
  };
  // A file of one tensor 'w'.
  const auto one = [&](std::string_view body, std::string_view data = "xxxxxxxx") {
    return file_bytes(fmt::format("{{{}}}", tensor("w", body)), data);
  };
  return {
      {"header too large",
       file_bytes_with_length(100'000'001, "{}"),
       {"header length is 100000001 bytes, more than the 100000000 allowed"}},
      {"header length 2^64-1",
       file_bytes_with_length(~std::uint64_t{0}, "{}"),
       {"more than the 100000000 allowed"}},
      {"header longer than the file",
       file_bytes_with_length(1000, "{}"),
       {"10 bytes, the header alone needs 8 + 1000"}},
      {"invalid JSON", file_bytes(R"({"w": {"dtype": "F32",)", ""), {"not valid JSON"}},
      {"invalid UTF-8", file_bytes("{\"w\xff\":{}}", ""), {"not valid JSON"}},
      {"not an object", file_bytes("[1, 2]", ""), {"header is array, expected a JSON object"}},
      {"duplicate tensor",
       file_bytes(two("w", R"("dtype":"F32","shape":[],"data_offsets":[0,4])", "w",
                      R"("dtype":"F32","shape":[],"data_offsets":[4,8])"),
                  eight),
       {"the key 'w' twice"}},
      {"tensor not an object",
       file_bytes(R"({"w": 3})", ""),
       {"tensor 'w'", "expected an object", "got number"}},
      {"missing field",
       one(R"("dtype":"F32","shape":[2])"),
       {"tensor 'w'", "missing field 'data_offsets'"}},
      {"extra field",
       one(R"("dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8])"),
       {"tensor 'w'", "unknown field 'offsets'"}},
      {"unknown dtype",
       one(R"("dtype":"F16","shape":[4],"data_offsets":[0,8])"),
       {"tensor 'w'", "unsupported dtype 'F16'", "F32, I32, I64 and BF16"}},
      {"dtype not a string",
       one(R"("dtype":4,"shape":[2],"data_offsets":[0,8])"),
       {"tensor 'w'", "dtype is 4, expected a string"}},
      {"negative dimension",
       one(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"),
       {"tensor 'w'", "shape [-2] holds -2, expected a non-negative integer"}},
      {"fractional dimension",
       one(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,8])"),
       {"tensor 'w'", "holds 2.5, expected a non-negative integer"}},
      {"shape not an array",
       one(R"("dtype":"F32","shape":2,"data_offsets":[0,8])"),
       {"tensor 'w'", "shape is 2, expected an array"}},
      {"rank too high",
       one(R"("dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8])"),
       {"tensor 'w'", "has rank 5, at most 4"}},
      {"shape overflows",
       one(R"("dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0])", ""),
       {"tensor 'w'", "too large"}},
      {"byte size mismatch",
       one(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"),
       {"tensor 'w'", "shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8"}},
      {"offsets not a pair",
       one(R"("dtype":"F32","shape":[2],"data_offsets":[8])"),
       {"tensor 'w'", "data_offsets is [8], expected [begin, end]"}},
      {"offsets reversed",
       one(R"("dtype":"F32","shape":[0],"data_offsets":[8,0])"),
       {"tensor 'w'", "data_offsets [8, 0] end before they begin"}},
      {"negative offset",
       one(R"("dtype":"F32","shape":[2],"data_offsets":[-8,0])"),
       {"tensor 'w'", "data_offsets[0] holds -8"}},
      {"offsets out of range",
       one(R"("dtype":"F32","shape":[4],"data_offsets":[0,16])"),
       {"tensor 'w'", "data_offsets [0, 16] end beyond the data section of 8 bytes"}},
      {"offsets overlap",
       file_bytes(two("a", R"("dtype":"F32","shape":[2],"data_offsets":[0,8])", "b",
                      R"("dtype":"F32","shape":[2],"data_offsets":[4,12])"),
                  std::string(12, 'x')),
       {"tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"}},
      {"gap between tensors",
       file_bytes(two("a", R"("dtype":"F32","shape":[1],"data_offsets":[0,4])", "b",
                      R"("dtype":"F32","shape":[1],"data_offsets":[8,12])"),
                  std::string(12, 'x')),
       {"bytes [4, 8) of the data section belong to no tensor",
        "tensor 'b' begins at 8, expected 4"}},
      {"gap at the start",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[4,8])"),
       {"bytes [0, 4) of the data section belong to no tensor"}},
      {"trailing data",
       one(R"("dtype":"F32","shape":[1],"data_offsets":[0,4])"),
       {"the tensors cover 4 of the 8 bytes of the data section"}},
      {"metadata not strings",
       file_bytes(R"({"__metadata__": {"k": "v", "n": 1}})", ""),
       {"__metadata__: the value of 'n' is 1, expected a string"}},
      {"metadata not an object",
       file_bytes(R"({"__metadata__": ["k"]})", ""),
       {"__metadata__ is array, expected an object of strings"}},
  };
}

TEST(Safetensors, MalformedFilesAreErrorsNamingTheProblem) {
  TempDir dir;
  for (const Malformed& m : malformed_files()) {
    SCOPED_TRACE(m.what);
    const fs::path path = dir / "bad.safetensors";
    write_bytes(path, m.bytes);
    expect_read_error(path, m.parts);
  }
}

// Every byte of the length and the header replaced by a character that
// matters to JSON: the reader throws an Error or reads a valid file, never
// crashes nor throws anything else.
TEST(Safetensors, CorruptingAnyHeaderByteNeverCrashes) {
  TempDir dir;
  write_safetensors(dir / "full.safetensors", mixed_tensors(), kMetadata);
  const std::string full = read_bytes(dir / "full.safetensors");
  const std::uint64_t header_end = 8 + layout_of(full).header_size;
  const fs::path path = dir / "corrupt.safetensors";
  constexpr char kReplacements[] = {'\0', '9', '"', '-', '}', ']', '\xff'};
  int errors = 0, reads = 0;
  for (std::size_t i = 0; i < header_end; ++i) {
    std::string bytes = full;
    bytes[i] = kReplacements[i % std::size(kReplacements)];
    if (bytes[i] == full[i]) continue;
    write_bytes(path, bytes);
    try {
      read_safetensors(path);
      ++reads;
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, static_cast<int>(header_end) / 2) << reads << " corrupt files read";
}

TEST(Safetensors, MissingFileNamesThePathAndTheReason) {
  TempDir dir;
  expect_read_error(dir / "nope.safetensors", {"cannot open", "No such file or directory"});
}

TEST(Safetensors, TheHeaderAloneIsReadWithoutTheData) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors",
                    {{"a", Tensor::zeros({2, 3})}, {"b", Tensor::zeros({4}, DType::kInt64)}},
                    {{"k", "v"}});
  const SafetensorsHeader header = read_safetensors_header(dir / "m.safetensors");
  ASSERT_EQ(header.tensors.size(), 2u);
  EXPECT_EQ(header.tensors.at("a").dtype, DType::kFloat32);
  EXPECT_EQ(header.tensors.at("a").shape, Shape({2, 3}));
  EXPECT_EQ(header.tensors.at("a").end - header.tensors.at("a").begin, 24u);
  EXPECT_EQ(header.tensors.at("b").shape, Shape({4}));
  EXPECT_EQ(header.metadata.at("k"), "v");
  EXPECT_EQ(header.data_bytes, 24u + 32u);
}

TEST(Safetensors, TheHeaderIsValidatedAsAWholeRead) {
  TempDir dir;
  const fs::path path = dir / "bad.safetensors";
  // Offsets beyond the data: refused by the header reader too.
  write_bytes(path,
              file_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234"));
  try {
    (void)read_safetensors_header(path);
    ADD_FAILURE() << "no error";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.safetensors: tensor 'w'"));
    EXPECT_THAT(e.what(), HasSubstr("beyond the data section"));
  }
  // An empty tensor whose other dimensions are beyond any tensor's size.
  write_bytes(
      path,
      file_bytes(R"({"w":{"dtype":"BF16","shape":[0,2305843009213693952],"data_offsets":[0,0]}})",
                 ""));
  try {
    (void)read_safetensors_header(path);
    ADD_FAILURE() << "no error";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("tensor 'w'"));
    EXPECT_THAT(e.what(), HasSubstr("too large"));
  }
}

TEST(Safetensors, ReadingTensorsOverTheMemoryLimitIsRefusedBeforeAllocating) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {{"a", Tensor::zeros({1024, 1024})}});
  set_memory_limit(memory_in_use() + (std::size_t{1} << 20));
  try {
    (void)read_safetensors(dir / "m.safetensors");
    ADD_FAILURE() << "no error";
  } catch (const MemoryLimitError& e) {
    EXPECT_THAT(e.what(), HasSubstr("m.safetensors"));
    EXPECT_THAT(e.what(), HasSubstr("memory limit"));
  }
  set_memory_limit(0);
  EXPECT_EQ(read_safetensors(dir / "m.safetensors").tensors.at("a").shape(), Shape({1024, 1024}));
}

}  // namespace
}  // namespace recblocks::io
