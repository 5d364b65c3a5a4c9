// Prometheus text format 0.0.4: exact output, escaping of label values and HELP text, names
// refused, special float values, bounded output.
#include "proto/http/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace cp::proto::http {
namespace {

TEST(PrometheusWriter, WritesFamiliesAndSamples) {
  char buffer[512];
  SpanWriter out(buffer);
  PrometheusWriter w(out);
  ASSERT_TRUE(w.begin_family("cellplane_bytes_received", "Bytes received.", MetricType::counter));
  const PrometheusLabel core0[] = {{"core", "0"}};
  const PrometheusLabel core1[] = {{"core", "1"}, {"backend", "epoll"}};
  ASSERT_TRUE(w.sample("cellplane_bytes_received", core0, uint64_t{18446744073709551615u}));
  ASSERT_TRUE(w.sample("cellplane_bytes_received", core1, 7));
  ASSERT_TRUE(w.begin_family("temp", "t", MetricType::gauge));
  ASSERT_TRUE(w.sample_i64("temp", {}, -3));
  ASSERT_TRUE(w.sample_double("temp", {}, 0.25));
  EXPECT_EQ(out.view(),
            "# HELP cellplane_bytes_received Bytes received.\n"
            "# TYPE cellplane_bytes_received counter\n"
            "cellplane_bytes_received{core=\"0\"} 18446744073709551615\n"
            "cellplane_bytes_received{core=\"1\",backend=\"epoll\"} 7\n"
            "# HELP temp t\n"
            "# TYPE temp gauge\n"
            "temp -3\n"
            "temp 0.25\n");
}

TEST(PrometheusWriter, EscapesLabelValuesAndHelp) {
  char buffer[256];
  SpanWriter out(buffer);
  PrometheusWriter w(out);
  ASSERT_TRUE(w.begin_family("m", "a \\ b\nc \"q\"", MetricType::untyped));
  const PrometheusLabel labels[] = {{"path", "C:\\dir\n\"x\""}};
  ASSERT_TRUE(w.sample("m", labels, 1));
  EXPECT_EQ(out.view(),
            "# HELP m a \\\\ b\\nc \"q\"\n"
            "# TYPE m untyped\n"
            "m{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(PrometheusWriter, SpecialFloats) {
  char buffer[256];
  SpanWriter out(buffer);
  PrometheusWriter w(out);
  w.sample_double("a", {}, std::numeric_limits<double>::quiet_NaN());
  w.sample_double("a", {}, std::numeric_limits<double>::infinity());
  w.sample_double("a", {}, -std::numeric_limits<double>::infinity());
  w.sample_double("a", {}, 1e21);
  EXPECT_EQ(out.view(), "a NaN\na +Inf\na -Inf\na 1e+21\n");
}

TEST(PrometheusWriter, RefusesInvalidNames) {
  char buffer[256];
  SpanWriter out(buffer);
  PrometheusWriter w(out);
  EXPECT_FALSE(w.begin_family("1abc", "", MetricType::counter));
  EXPECT_FALSE(w.begin_family("a-b", "", MetricType::counter));
  const PrometheusLabel reserved[] = {{"__name__", "x"}};
  EXPECT_FALSE(w.sample("ok", reserved, 1));
  const PrometheusLabel dashed[] = {{"a-b", "x"}};
  EXPECT_FALSE(w.sample("ok", dashed, 1));
  EXPECT_TRUE(w.refused_names());
  EXPECT_EQ(out.size(), 0u);
  EXPECT_TRUE(valid_metric_name("ns:sub_metric_9"));
  EXPECT_TRUE(valid_label_name("_core"));
  EXPECT_FALSE(valid_label_name("a:b"));
}

TEST(PrometheusWriter, OverflowIsSticky) {
  char buffer[40];
  SpanWriter out(buffer);
  PrometheusWriter w(out);
  EXPECT_TRUE(w.sample("short", {}, 1));
  EXPECT_FALSE(w.sample("a_much_longer_metric_name_that_does_not_fit", {}, 1));
  EXPECT_TRUE(w.overflowed());
  EXPECT_FALSE(w.sample("s", {}, 1));
  EXPECT_EQ(out.view(), "short 1\n");
}

}  // namespace
}  // namespace cp::proto::http
