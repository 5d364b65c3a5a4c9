#include "proto/http/prometheus.h"

#include <charconv>
#include <cmath>

namespace cp::proto::http {

namespace {

bool is_alpha_or_underscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool append_help_escaped(SpanWriter& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.append(c);
    }
  }
  return !out.overflowed();
}

}  // namespace

std::string_view to_string(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::untyped:
      return "untyped";
  }
  return "untyped";
}

bool valid_metric_name(std::string_view name) {
  if (name.empty() || is_digit(name.front())) return false;
  for (char c : name) {
    if (!is_alpha_or_underscore(c) && !is_digit(c) && c != ':') return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || is_digit(name.front()) || name.starts_with("__")) return false;
  for (char c : name) {
    if (!is_alpha_or_underscore(c) && !is_digit(c)) return false;
  }
  return true;
}

bool append_label_value_escaped(SpanWriter& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '"') {
      out.append("\\\"");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.append(c);
    }
  }
  return !out.overflowed();
}

bool PrometheusWriter::begin_family(std::string_view name, std::string_view help, MetricType type) {
  if (!valid_metric_name(name)) {
    refused_names_ = true;
    return false;
  }
  out_.append("# HELP ");
  out_.append(name);
  out_.append(' ');
  append_help_escaped(out_, help);
  out_.append("\n# TYPE ");
  out_.append(name);
  out_.append(' ');
  out_.append(to_string(type));
  return out_.append('\n');
}

bool PrometheusWriter::begin_sample(std::string_view name,
                                    std::span<const PrometheusLabel> labels) {
  if (!valid_metric_name(name)) {
    refused_names_ = true;
    return false;
  }
  for (const PrometheusLabel& label : labels) {
    if (!valid_label_name(label.name)) {
      refused_names_ = true;
      return false;
    }
  }
  out_.append(name);
  if (!labels.empty()) {
    char separator = '{';
    for (const PrometheusLabel& label : labels) {
      out_.append(separator);
      out_.append(label.name);
      out_.append("=\"");
      append_label_value_escaped(out_, label.value);
      out_.append('"');
      separator = ',';
    }
    out_.append('}');
  }
  return out_.append(' ');
}

bool PrometheusWriter::sample(std::string_view name, std::span<const PrometheusLabel> labels,
                              uint64_t value) {
  if (!begin_sample(name, labels)) return false;
  out_.append_decimal(value);
  return end_sample();
}

bool PrometheusWriter::sample_i64(std::string_view name, std::span<const PrometheusLabel> labels,
                                  int64_t value) {
  if (!begin_sample(name, labels)) return false;
  out_.append_decimal(value);
  return end_sample();
}

bool PrometheusWriter::sample_double(std::string_view name, std::span<const PrometheusLabel> labels,
                                     double value) {
  if (!begin_sample(name, labels)) return false;
  if (std::isnan(value)) {
    out_.append("NaN");
  } else if (std::isinf(value)) {
    out_.append(value > 0 ? "+Inf" : "-Inf");
  } else {
    const std::span<char> room = out_.room();
    auto [end, ec] = std::to_chars(room.data(), room.data() + room.size(), value);
    if (ec != std::errc{}) return out_.fail();
    out_.commit(static_cast<size_t>(end - room.data()));
  }
  return end_sample();
}

}  // namespace cp::proto::http
