// Downloading (file:// URLs and a silent loopback server only: the test machines
// have no network) and unpacking zips (download.h).
#include "recblocks/data/download.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "movielens_testing.h"

namespace recblocks::datasets {
namespace {

using ::testing::HasSubstr;
using testing_ml::make_zip;
using testing_ml::read_text;
using testing_ml::TempDir;
using testing_ml::write_text;

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    had_ = std::getenv(name) != nullptr;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(Download, FileUrlCopiesTheBytes) {
  TempDir tmp;
  std::string payload;
  for (int i = 0; i < 200000; ++i) payload += static_cast<char>('a' + i % 26);
  write_text(tmp.path() / "src" / "blob.bin", payload);
  const auto dest = tmp.path() / "out" / "blob.bin";
  download_file("file://" + (tmp.path() / "src" / "blob.bin").string(), dest, {.progress = false});
  EXPECT_EQ(read_text(dest), payload);
  EXPECT_FALSE(std::filesystem::exists(dest.string() + ".part"));
}

TEST(Download, MissingSourceNamesTheUrlAndLeavesNoFile) {
  TempDir tmp;
  const std::string url = "file://" + (tmp.path() / "nope.zip").string();
  const auto dest = tmp.path() / "got.zip";
  EXPECT_THAT([&] { download_file(url, dest, {.progress = false}); },
              ::testing::ThrowsMessage<Error>(HasSubstr("download " + url + ":")));
  EXPECT_FALSE(std::filesystem::exists(dest));
  EXPECT_FALSE(std::filesystem::exists(dest.string() + ".part"));
}

TEST(Download, ProgressLineOnStderr) {
  TempDir tmp;
  write_text(tmp.path() / "a.txt", std::string(5000, 'x'));
  ::testing::internal::CaptureStderr();
  download_file("file://" + (tmp.path() / "a.txt").string(), tmp.path() / "b.txt");
  const std::string err = ::testing::internal::GetCapturedStderr();
  // stderr is not a terminal here: plain lines, the last one with the total.
  EXPECT_THAT(err, HasSubstr("4.9 KiB"));
  EXPECT_THAT(err, HasSubstr("/s\n"));
  EXPECT_THAT(err, ::testing::Not(HasSubstr("\r")));
}

// A server that accepts the connection and never answers: without the
// low-speed limit the download would wait forever.
TEST(Download, StalledServerFailsWithinTheLowSpeedTime) {
  const int server = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(server, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(server, 4), 0);  // the kernel completes the handshake; nobody reads
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(server, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string url = fmt::format("http://127.0.0.1:{}/ml-100k.zip", ntohs(address.sin_port));
  TempDir tmp;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(
      [&] {
        download_file(url, tmp.path() / "got.zip",
                      {.progress = false, .low_speed_bytes_per_s = 1, .low_speed_time_s = 1});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("download " + url + ":")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "got.zip.part"));
  ::close(server);
}

TEST(Unzip, ExtractsWantedFilesFlat) {
  TempDir tmp;
  write_text(tmp.path() / "in" / "u.data", "1\t2\t3\t4\n");
  write_text(tmp.path() / "in" / "README", "readme");
  const auto zip = tmp.path() / "ml-100k.zip";
  make_zip(zip, {tmp.path() / "in" / "u.data", tmp.path() / "in" / "README"}, "ml-100k");
  const auto written = unpack_zip(zip, tmp.path() / "out", {"u.data"});
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0], tmp.path() / "out" / "u.data");
  EXPECT_EQ(read_text(tmp.path() / "out" / "u.data"), "1\t2\t3\t4\n");
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "out" / "README"));
  EXPECT_EQ(unpack_zip(zip, tmp.path() / "all").size(), 2u);
}

TEST(Unzip, CorruptZipNamesTheFile) {
  TempDir tmp;
  write_text(tmp.path() / "bad.zip", "PK\x03\x04 this is not really a zip");
  EXPECT_THAT([&] { unpack_zip(tmp.path() / "bad.zip", tmp.path() / "out"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("bad.zip")));
  EXPECT_THAT([&] { unpack_zip(tmp.path() / "absent.zip", tmp.path() / "out"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("absent.zip: no such file")));
}

TEST(MovieLensUrl, OfficialBaseOrEnvironment) {
  {
    ScopedEnv unset("RECBLOCKS_MOVIELENS_URL", "");
    EXPECT_EQ(movielens_url("ml-1m"), "https://files.grouplens.org/datasets/movielens/ml-1m.zip");
  }
  ScopedEnv env("RECBLOCKS_MOVIELENS_URL", "file:///tmp/zips");
  EXPECT_EQ(movielens_url("ml-100k"), "file:///tmp/zips/ml-100k.zip");
}

}  // namespace
}  // namespace recblocks::datasets
