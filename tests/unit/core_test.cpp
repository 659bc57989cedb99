// Core helpers: huge-page arrays, wire reads, address formatting and parsing, JSON escaping, structured log
// lines and the rate limiter.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "core/huge_array.hpp"
#include "core/ip_address.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/wire.hpp"

namespace flowpulse {
namespace {

TEST(HugeArray, StartsZeroedBigOnesOnHugePageBoundaries) {
  struct Slot {
    std::uint64_t a = 0;
    std::uint32_t b = 0;
    std::uint32_t c = 0;
  };
  core::HugeArray<Slot> big(300'000);  // 4.8 MB: huge pages asked for
  ASSERT_EQ(big.size(), 300'000u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big.data()) % core::HugeArray<Slot>::huge_page, 0u);
  for (std::size_t i = 0; i < big.size(); i += 4099) EXPECT_EQ(big[i].a + big[i].b + big[i].c, 0u);
  big[299'999].c = 7;  // the last element is inside the mapping
  core::HugeArray<std::uint8_t> small(100);
  small[99] = 1;
  core::HugeArray<Slot> moved = std::move(big);
  EXPECT_EQ(moved[299'999].c, 7u);
  EXPECT_EQ(big.data(), nullptr);  // NOLINT(bugprone-use-after-move): a moved-from array is empty
  // A type whose empty state is not all zeros is refused.
  struct NotZero {
    int v = 1;
  };
  EXPECT_THROW(core::HugeArray<NotZero>(4), std::invalid_argument);
}

// The memory is resident as soon as the array exists (no page fault left for a worker's first
// write): mincore, the kernel's own view, says every page is in.
TEST(HugeArray, IsCommittedWhenMade) {
  // The pages of the array that are not resident.
  const auto missing = [](const void* p, std::size_t bytes) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> in((bytes + page - 1) / page);
    if (mincore(const_cast<void*>(p), bytes, in.data()) != 0) return in.size();
    std::size_t n = 0;
    for (unsigned char v : in) n += (v & 1) == 0 ? 1 : 0;
    return n;
  };
  core::HugeArray<std::uint64_t> big(1'000'000);  // 8 MB: huge pages asked for
  EXPECT_EQ(missing(big.data(), big.size() * 8), 0u);
  core::HugeArray<std::uint64_t> small(1000);  // 8 KB: ordinary pages
  EXPECT_EQ(missing(small.data(), small.size() * 8), 0u);
}

TEST(Wire, ReadsBigEndianAndStopsAtTheEnd) {
  const std::uint8_t buf[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
  core::WireReader r(buf, sizeof buf);
  EXPECT_EQ(r.u16(), 0x0102);
  EXPECT_EQ(r.u32(), 0x03040506u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.u16(), 0);  // one byte left: a short read fails
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.u8(), 0);  // and stays failed
}

TEST(Wire, VariableWidthKeepsLowBytes) {
  const std::uint8_t buf[] = {0xaa, 0, 0, 0, 0, 0, 0, 0x01, 0x02};
  EXPECT_EQ(core::load_be_var(buf + 7, 2), 0x0102u);
  EXPECT_EQ(core::load_be_var(buf, 9), 0x0000000000000102ULL);  // 9 bytes: the top byte is dropped
}

TEST(IpAddress, FormatsAndParsesBothFamilies) {
  auto v4 = core::parse_ip("192.0.2.1");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->v4_host_order(), 0xc0000201u);
  EXPECT_EQ(core::to_string(*v4), "192.0.2.1");
  EXPECT_EQ(*v4, IpAddress::v4(0xc0000201u));
  auto v6 = core::parse_ip("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->family, 6);
  EXPECT_EQ(core::to_string(*v6), "2001:db8::1");
  EXPECT_FALSE(core::parse_ip("300.1.1.1"));
  EXPECT_EQ(core::to_string(IpAddress{}), "");
  EXPECT_EQ(core::format_mac({0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}), "00:1b:21:aa:bb:cc");
}

TEST(Json, EscapesControlAndQuotes) {
  std::string out;
  core::append_json_string(out, "a\"b\\c\n\x01");
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001")");
}

TEST(Log, FormatsEachStyle) {
  const std::uint64_t t = 1'700'000'000'123'000'000ULL;  // 2023-11-14T22:13:20.123Z
  const log::Field fields[] = {{"port", 2055}, {"exporter", "192.0.2.1"}, {"why", "bad length"}};
  EXPECT_EQ(
      log::format_line(log::Level::warn, "dropped", fields, log::Format::logfmt, t),
      R"(ts=2023-11-14T22:13:20.123Z level=warn msg=dropped port=2055 exporter=192.0.2.1 why="bad length")");
  EXPECT_EQ(
      log::format_line(log::Level::warn, "dropped", fields, log::Format::json, t),
      R"({"ts":"2023-11-14T22:13:20.123Z","level":"warn","msg":"dropped","port":2055,"exporter":"192.0.2.1","why":"bad length"})");
  EXPECT_EQ(log::format_line(log::Level::error, "x", {}, log::Format::text, t),
            "2023-11-14T22:13:20.123Z ERROR x");
}

class LogCapture : public ::testing::Test {
 protected:
  void configure(log::Options o) {
    out_.str("");
    log::configure(o, std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
  }
  void TearDown() override { log::configure({}); }
  std::vector<std::string> lines() {
    std::vector<std::string> v;
    std::istringstream in(out_.str());
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
  std::ostringstream out_;
};

TEST_F(LogCapture, LevelFilters) {
  configure({.level = log::Level::warn});
  log::info("hidden");
  log::warn("shown");
  ASSERT_EQ(lines().size(), 1u);
  EXPECT_NE(lines()[0].find("msg=shown"), std::string::npos);
}

TEST_F(LogCapture, RepeatedErrorsAreRateLimitedAndCounted) {
  // A 50 ms interval and a burst of 2: 10 lines from one exporter give 2 lines, then 8 suppressed.
  configure({.level = log::Level::debug, .rate_limit_interval_ns = 50'000'000, .rate_limit_burst = 2});
  for (int i = 0; i < 10; ++i)
    log::limited(log::Level::error, "template_missing", "192.0.2.1", "no template");
  // Another exporter has its own budget.
  log::limited(log::Level::error, "template_missing", "192.0.2.2", "no template");
  EXPECT_EQ(lines().size(), 3u);
  usleep(60'000);
  log::limited(log::Level::error, "template_missing", "192.0.2.1", "no template");
  auto l = lines();
  ASSERT_EQ(l.size(), 4u);
  EXPECT_NE(l[3].find("kind=template_missing source=192.0.2.1 suppressed=8"), std::string::npos) << l[3];
  EXPECT_NE(l[2].find("msg=\"no template\" kind=template_missing source=192.0.2.2"), std::string::npos)
      << l[2];
}

TEST_F(LogCapture, FlushReportsSuppressedWithoutANewLine) {
  configure({.level = log::Level::debug, .rate_limit_interval_ns = 20'000'000, .rate_limit_burst = 1});
  for (int i = 0; i < 4; ++i) log::limited(log::Level::warn, "malformed", "10.0.0.9", "bad datagram");
  log::flush_suppressed();  // the interval has not ended: nothing yet
  EXPECT_EQ(lines().size(), 1u);
  usleep(30'000);
  log::flush_suppressed();
  auto l = lines();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_NE(l[1].find("kind=malformed source=10.0.0.9 suppressed=3"), std::string::npos) << l[1];
  log::flush_suppressed();  // reported once only
  EXPECT_EQ(lines().size(), 2u);
}

}  // namespace
}  // namespace flowpulse
