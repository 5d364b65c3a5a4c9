// Writer for the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): per metric family a
// "# HELP" and a "# TYPE counter|gauge|untyped" line, then its samples
//   name{label="value",...} 42
// Label values escape backslash, double quote and newline; HELP text escapes backslash and
// newline. Output goes into a fixed SpanWriter (the /metrics response body); overflow is sticky.
// Metric and label names come from code: an invalid one is refused (nothing written, false),
// never an assertion.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "proto/http/span_writer.h"

namespace cp::proto::http {

enum class MetricType : uint8_t { counter, gauge, untyped };
std::string_view to_string(MetricType type);

struct PrometheusLabel {
  std::string_view name;
  std::string_view value;
};

// Metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not "__" prefixed).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// Lifetime: one rendering; it only holds a reference to `out`.
class PrometheusWriter {
 public:
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  explicit PrometheusWriter(SpanWriter& out) : out_(out) {}

  // Starts a family: its HELP and TYPE lines. All samples of a family follow it together.
  bool begin_family(std::string_view name, std::string_view help, MetricType type);
  bool sample(std::string_view name, std::span<const PrometheusLabel> labels, uint64_t value);
  bool sample_i64(std::string_view name, std::span<const PrometheusLabel> labels, int64_t value);
  // NaN, +Inf and -Inf are written the way Prometheus parses them.
  bool sample_double(std::string_view name, std::span<const PrometheusLabel> labels, double value);

  bool overflowed() const { return out_.overflowed(); }
  // A name was refused somewhere in this rendering.
  bool refused_names() const { return refused_names_; }

 private:
  bool begin_sample(std::string_view name, std::span<const PrometheusLabel> labels);
  bool end_sample() { return out_.append('\n'); }

  SpanWriter& out_;
  bool refused_names_ = false;
};

// Appends `value` escaped as a label value (without the quotes).
bool append_label_value_escaped(SpanWriter& out, std::string_view value);

}  // namespace cp::proto::http
