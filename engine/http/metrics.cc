#include "engine/http/metrics.h"

#include <charconv>
#include <iterator>

namespace cp::engine::http {

using proto::http::MetricType;
using proto::http::PrometheusLabel;

namespace {

constexpr ReactorStatField kStatFields[] = {
    {"loop_iterations", "cellplane_loop_iterations", "Reactor loop turns.", MetricType::counter,
     &ReactorStats::loop_iterations},
    {"connections_open", "cellplane_connections_open", "Connections open now.", MetricType::gauge,
     &ReactorStats::connections_open},
    {"connections_accepted", "cellplane_connections_accepted", "Connections accepted.",
     MetricType::counter, &ReactorStats::connections_accepted},
    {"connections_closed", "cellplane_connections_closed", "Connections closed.",
     MetricType::counter, &ReactorStats::connections_closed},
    {"connections_refused_limit", "cellplane_connections_refused_limit",
     "Accepted connections closed at once because the connection table was full.",
     MetricType::counter, &ReactorStats::connections_refused_limit},
    {"accept_errors", "cellplane_accept_errors", "Failed accepts.", MetricType::counter,
     &ReactorStats::accept_errors},
    {"idle_timeouts", "cellplane_idle_timeouts", "Connections closed for idleness.",
     MetricType::counter, &ReactorStats::idle_timeouts},
    {"rx_overflows", "cellplane_rx_overflows",
     "Connections closed with a full, unconsumed receive buffer.", MetricType::counter,
     &ReactorStats::rx_overflows},
    {"bytes_received", "cellplane_bytes_received", "Bytes received from connections.",
     MetricType::counter, &ReactorStats::bytes_received},
    {"bytes_sent", "cellplane_bytes_sent", "Bytes sent to connections.", MetricType::counter,
     &ReactorStats::bytes_sent},
    {"recv_pauses", "cellplane_recv_pauses", "Times a handler paused reading (backpressure).",
     MetricType::counter, &ReactorStats::recv_pauses},
    {"recv_parked", "cellplane_recv_parked",
     "Receives parked until a provided buffer came back (all were held).", MetricType::counter,
     &ReactorStats::recv_parked},
    {"send_refusals", "cellplane_send_refusals", "Sends refused for lack of send buffer room.",
     MetricType::counter, &ReactorStats::send_refusals},
    {"close_discard_aborts", "cellplane_close_discard_aborts",
     "Closing connections reset: the peer kept sending long after the close.", MetricType::counter,
     &ReactorStats::close_discard_aborts},
    {"cross_core_sent", "cellplane_cross_core_sent", "Messages sent to other reactors.",
     MetricType::counter, &ReactorStats::cross_core_sent},
    {"cross_core_received", "cellplane_cross_core_received",
     "Messages received from other reactors.", MetricType::counter,
     &ReactorStats::cross_core_received},
    {"cross_core_full", "cellplane_cross_core_full", "Cross-core sends refused by a full ring.",
     MetricType::counter, &ReactorStats::cross_core_full},
    {"io_waits", "cellplane_io_waits", "Waits for I/O completions.", MetricType::counter,
     &ReactorStats::io_waits},
};
static_assert(sizeof(ReactorStats) == std::size(kStatFields) * sizeof(std::atomic<uint64_t>),
              "a ReactorStats field is missing from kStatFields");

}  // namespace

std::span<const ReactorStatField> reactor_stat_fields() {
  return kStatFields;
}

void add_metrics_route(HttpServer& server, MetricsFiller fill, std::string_view path) {
  server.add_route(HttpMethod::get, path,
                   [fill = std::move(fill)](const HttpRequest&, HttpResponseWriter& response) {
                     response.set_content_type(PrometheusWriter::kContentType);
                     PrometheusWriter writer(response.body());
                     fill(writer);
                   });
}

void append_reactor_metrics(PrometheusWriter& out, std::span<const Reactor* const> reactors) {
  for (const ReactorStatField& field : kStatFields) {
    out.begin_family(field.metric, field.help, field.type);
    for (const Reactor* reactor : reactors) {
      char core[16];
      const auto end = std::to_chars(core, core + sizeof core, reactor->core()).ptr;
      const PrometheusLabel labels[] = {{"core", std::string_view(core, end - core)}};
      out.sample(field.metric, labels,
                 (reactor->stats().*field.member).load(std::memory_order_relaxed));
    }
  }
  out.begin_family("cellplane_cross_core_backlog",
                   "Messages waiting in the rings that point at the reactor.", MetricType::gauge);
  for (const Reactor* reactor : reactors) {
    char core[16];
    const auto end = std::to_chars(core, core + sizeof core, reactor->core()).ptr;
    const PrometheusLabel labels[] = {{"core", std::string_view(core, end - core)}};
    out.sample("cellplane_cross_core_backlog", labels,
               static_cast<uint64_t>(reactor->cross_core_backlog()));
  }
  out.begin_family("cellplane_backend_info", "The I/O backend each reactor runs on.",
                   MetricType::gauge);
  for (const Reactor* reactor : reactors) {
    char core[16];
    const auto end = std::to_chars(core, core + sizeof core, reactor->core()).ptr;
    const PrometheusLabel labels[] = {{"core", std::string_view(core, end - core)},
                                      {"backend", reactor->backend().name()}};
    out.sample("cellplane_backend_info", labels, 1);
  }
}

}  // namespace cp::engine::http
