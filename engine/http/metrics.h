// The Prometheus endpoint: GET /metrics on an HttpServer, rendered on every scrape by a callback
// that fills a PrometheusWriter (text format 0.0.4), and the renderer of the engine's own
// counters. The daemon passes a callback that calls append_reactor_metrics() over every reactor
// and then appends the services' counters.
#pragma once

#include <functional>
#include <span>
#include <string_view>

#include "engine/http/http_server.h"
#include "engine/reactor.h"
#include "proto/http/prometheus.h"

namespace cp::engine::http {

using proto::http::PrometheusWriter;

// Runs on the serving reactor's thread; reads other threads' state only through atomics.
using MetricsFiller = std::function<void(PrometheusWriter&)>;

// Routes GET `path` on `server` to a text-format rendering of `fill`. The output is bounded by
// the server's response_bytes_max (over it: 500 and responses_too_large counted).
void add_metrics_route(HttpServer& server, MetricsFiller fill, std::string_view path = "/metrics");

// One ReactorStats field: its `cellctl stats` key and its Prometheus family (labelled by core).
struct ReactorStatField {
  std::string_view key;     // "connections_open"
  std::string_view metric;  // "cellplane_connections_open"
  std::string_view help;
  proto::http::MetricType type;
  const std::atomic<uint64_t> ReactorStats::*member;
};
// Every ReactorStats field, in declaration order (a static_assert keeps the table complete).
std::span<const ReactorStatField> reactor_stat_fields();

// Every ReactorStats field of every reactor as cellplane_<field>{core="N"} (connections_open a
// gauge, the rest counters), and cellplane_backend_info{core="N",backend="io_uring"} 1. Safe
// from any thread: the stats are atomics, core and backend never change after start-up.
void append_reactor_metrics(PrometheusWriter& out, std::span<const Reactor* const> reactors);

}  // namespace cp::engine::http
