// Replays the fuzz target's seed corpus (and any crash inputs saved next to it) in the
// ordinary unit tests, so that CI runs every input under ASan+UBSan even without clang.
#include <dirent.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns/dns_testing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
  closedir(d);
  return out;
}

TEST(DnsFuzzCorpusTest, EverySeedRunsClean) {
  auto files = files_in(std::string(TCPCONNECT_SOURCE_DIR) + "/tests/fuzz/corpus");
  ASSERT_GE(files.size(), 20u);
  for (const auto& f : files) {
    auto bytes = tcpconnect::testing::read_binary(f);
    EXPECT_EQ(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()), 0) << f;
  }
}

TEST(DnsFuzzCorpusTest, DegenerateInputs) {
  const uint8_t zero[64] = {};
  for (size_t n = 0; n <= sizeof(zero); ++n) LLVMFuzzerTestOneInput(zero, n);
  std::vector<uint8_t> ff(70000, 0xff);
  LLVMFuzzerTestOneInput(ff.data(), ff.size());
}

}  // namespace
