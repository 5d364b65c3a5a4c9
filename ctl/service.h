// How a service plugs into the daemon: each service folder has one wiring unit
// (services/<name>/wiring.cc) with an installer that reads its configuration section, builds the
// service, schedules its start on the reactors, registers its `cellctl` commands and hands the
// daemon a ctl::Service that renders its Prometheus families. The daemon only lists the
// installers (daemon/services.cc); adding a service touches no other service's file.
//
// Counters are declared once per service as a table of Counter rows; the same table writes the
// `cellctl --json` fields (write_counters) and the Prometheus families (append_counters), so the
// two can never drift apart.
//
// Threading: installers run on the main thread before the engine starts. Metrics and command
// handlers run on the control reactor (reactor 0) and read other threads' state through atomics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ctl/config.h"
#include "ctl/control_protocol.h"
#include "ctl/control_server.h"
#include "proto/http/prometheus.h"

namespace cp::engine {
class Engine;
}

namespace cp::ctl {

using proto::http::MetricType;
using proto::http::PrometheusLabel;
using proto::http::PrometheusWriter;

// One counter of a service's stats struct: its `cellctl --json` field and, when `metric` is not
// empty, its Prometheus family.
template <typename Stats>
struct Counter {
  std::string_view key;     // field in the cellctl JSON object
  std::string_view metric;  // Prometheus family name; "" when only cellctl shows it
  std::string_view help;
  MetricType type;
  const std::atomic<uint64_t> Stats::*member;
};

// Writes every row of `table` as a field of the JSON object being written.
template <typename Stats>
void write_counters(JsonWriter& out, const Stats& stats, std::span<const Counter<Stats>> table) {
  for (const Counter<Stats>& c : table)
    out.field(c.key, (stats.*c.member).load(std::memory_order_relaxed));
}

// Appends each row with a metric name as a family of one sample (with `labels`).
template <typename Stats>
void append_counters(PrometheusWriter& out, const Stats& stats,
                     std::span<const Counter<Stats>> table,
                     std::span<const PrometheusLabel> labels = {}) {
  for (const Counter<Stats>& c : table) {
    if (c.metric.empty()) continue;
    out.begin_family(c.metric, c.help, c.type);
    out.sample(c.metric, labels, (stats.*c.member).load(std::memory_order_relaxed));
  }
}

// Appends each row with a metric name as one family with a sample per item of `items`:
// `stats_of(item)` gives its stats, `label_of(item)` its label value under `label`.
template <typename Stats, typename Items, typename StatsOf, typename LabelOf>
void append_counters_by(PrometheusWriter& out, std::span<const Counter<Stats>> table,
                        const Items& items, std::string_view label, StatsOf stats_of,
                        LabelOf label_of) {
  for (const Counter<Stats>& c : table) {
    if (c.metric.empty()) continue;
    out.begin_family(c.metric, c.help, c.type);
    for (const auto& item : items) {
      const std::string value = label_of(item);
      const PrometheusLabel labels[] = {{label, value}};
      out.sample(c.metric, labels, (stats_of(item).*c.member).load(std::memory_order_relaxed));
    }
  }
}

// What the daemon keeps of an installed service: it lives as long as the daemon, and renders
// the service's Prometheus families on every scrape (reactor 0).
class Service {
 public:
  virtual ~Service() = default;
  virtual std::string_view name() const = 0;
  virtual void append_metrics(PrometheusWriter&) const {}
};

// What an installer may use: the configuration, the engine, the command registry and the
// services installed before it.
class ServiceHost {
 public:
  ServiceHost(const Config& config, engine::Engine& engine, CommandRegistry& registry)
      : config_(config), engine_(engine), registry_(registry) {}
  // Services go in the reverse order of their installation (a service may use earlier ones).
  ~ServiceHost() {
    while (!services_.empty()) services_.pop_back();
  }
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  const Config& config() const { return config_; }
  engine::Engine& engine() const { return engine_; }
  // The reactor that serves the control socket, where command handlers run (after start).
  static constexpr unsigned kControlCore = 0;
  engine::Reactor& control_reactor() const;

  // Command names are the services' own and unique: a clash is a programming error (asserted).
  void add_command(std::string name, std::string help, CommandHandler handler);
  void add_async_command(std::string name, std::string help, AsyncCommandHandler handler);

  // Keeps `service` for the daemon's lifetime and returns it.
  template <typename T>
  T& add(std::unique_ptr<T> service) {
    T& ref = *service;
    services_.push_back(std::move(service));
    return ref;
  }
  // The installed service of type T, or null.
  template <typename T>
  T* find() const {
    for (const auto& s : services_)
      if (auto* p = dynamic_cast<T*>(s.get())) return p;
    return nullptr;
  }
  const std::vector<std::unique_ptr<Service>>& services() const { return services_; }

 private:
  const Config& config_;
  engine::Engine& engine_;
  CommandRegistry& registry_;
  std::vector<std::unique_ptr<Service>> services_;
};

// Writes `text` to `path` when nothing is there yet (a fresh state directory), so the default
// configuration runs out of the box, and logs a notice naming the file and `reload_command`, the
// command that rereads it after an edit. An existing file is never touched.
Result<void, std::string> write_example_file(const std::string& path, std::string_view text,
                                             std::string_view reload_command);

// A service's installer: does nothing when its section is disabled.
using ServiceInstaller = Result<void, std::string> (*)(ServiceHost& host);

}  // namespace cp::ctl
