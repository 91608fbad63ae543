// The catalogue as a whole: names that Prometheus accepts and its conventions expect, each
// once, and each documented in the README's metric table.
#include "metrics/metric_families.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace tcpconnect {
namespace {

TEST(MetricFamilies, NamesFollowPrometheusConventions) {
  const std::regex name("tcpconnect_[a-z][a-z0-9_]*[a-z0-9]");
  const std::regex label("[a-z][a-z0-9_]*");
  std::set<std::string_view> seen;
  for (const MetricDef* def : metric::kAll) {
    EXPECT_TRUE(std::regex_match(std::string(def->name), name)) << def->name;
    EXPECT_TRUE(seen.insert(def->name).second) << def->name << " is in the catalogue twice";
    const bool total = def->name.ends_with("_total");
    EXPECT_EQ(total, def->type == prometheus::MetricType::Counter) << def->name;
    EXPECT_FALSE(def->full_help().empty()) << def->name;
    for (std::string_view l : def->labels()) {
      EXPECT_TRUE(std::regex_match(std::string(l), label)) << def->name << " " << l;
      EXPECT_NE(l, "le") << def->name;
    }
  }
}

TEST(MetricFamilies, EveryFamilyIsInTheReadme) {
  std::ifstream in(std::string(TCPCONNECT_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(in);
  std::stringstream readme;
  readme << in.rdbuf();
  for (const MetricDef* def : metric::kAll) {
    EXPECT_NE(readme.str().find("`" + std::string(def->name) + "`"), std::string::npos)
        << def->name << " is not in the README's metric table";
  }
}

TEST(MetricFamilies, HelpNamingAnotherFamilySpellsItsName) {
  EXPECT_EQ(metric::kDnsAttributions.full_help(),
            std::string(metric::kDnsAttributions.help) + "tcpconnect_connects_total" +
                std::string(metric::kDnsAttributions.help_tail));
}

}  // namespace
}  // namespace tcpconnect
