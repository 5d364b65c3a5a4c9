#include "services/remsim/wiring.h"

#include <charconv>
#include <thread>

#include <fmt/format.h>

#include "base/address_filter.h"
#include "base/atomic_file.h"
#include "base/log.h"
#include "engine/engine.h"

namespace cp::wiring {
namespace {

using remsim::BankdStats;
using remsim::ServerStats;

// `cellctl remsim` counters and the cellplane_remsim_* counter families, in one table.
constexpr ctl::Counter<ServerStats> kServerCounters[] = {
    {"connections", "", "", ctl::MetricType::counter, &ServerStats::connections},
    {"connections_refused", "cellplane_remsim_connections_refused_total",
     "RSPRO connections refused at accept (max_connections open).", ctl::MetricType::counter,
     &ServerStats::connections_refused},
    {"connections_disallowed", "cellplane_remsim_connections_disallowed_total",
     "RSPRO connections refused at accept: from an address outside [remsim_server] allow.",
     ctl::MetricType::counter, &ServerStats::connections_disallowed},
    {"id_timeouts", "cellplane_remsim_id_timeouts_total",
     "Connections closed for not identifying themselves in time.", ctl::MetricType::counter,
     &ServerStats::id_timeouts},
    {"identity_in_use", "cellplane_remsim_identity_in_use_total",
     "Banks or clients refused because their identity was connected already.",
     ctl::MetricType::counter, &ServerStats::identity_in_use},
    {"protocol_errors", "", "", ctl::MetricType::counter, &ServerStats::protocol_errors},
    {"rest_requests", "", "", ctl::MetricType::counter, &ServerStats::rest_requests},
    {"rest_unauthorized", "", "", ctl::MetricType::counter, &ServerStats::rest_unauthorized},
};

// `cellctl bankd` counters and the cellplane_bankd_* counter families, in one table.
constexpr ctl::Counter<BankdStats> kBankdCounters[] = {
    {"clients_accepted", "", "", ctl::MetricType::counter, &BankdStats::clients_accepted},
    {"clients_disallowed", "cellplane_bankd_clients_disallowed_total",
     "Client connections refused at accept: from an address outside [bankd] allow.",
     ctl::MetricType::counter, &BankdStats::clients_disallowed},
    {"clients_refused", "cellplane_bankd_clients_refused_total",
     "Client connections closed at accept: [bankd] max_connections were open.",
     ctl::MetricType::counter, &BankdStats::clients_refused},
    {"tpdus", "cellplane_bankd_tpdus_total", "TPDUs from clients to cards.",
     ctl::MetricType::counter, &BankdStats::tpdus},
    {"card_errors", "cellplane_bankd_card_errors_total",
     "Card failures (removed, mute, transmission errors) that closed a client.",
     ctl::MetricType::counter, &BankdStats::card_errors},
    {"resets", "cellplane_bankd_resets_total", "Card resets asked by clients.",
     ctl::MetricType::counter, &BankdStats::resets},
};

Result<std::pair<uint16_t, uint16_t>, std::string> parse_pair(const ctl::ControlRequest& req,
                                                              std::string_view key) {
  auto v = req.string_arg(key);
  if (!v) return fail(v.error());
  const size_t colon = v->find(':');
  uint32_t a = 0, b = 0;
  auto num = [](std::string_view s, uint32_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out <= 1023;
  };
  if (colon == std::string_view::npos || !num(v->substr(0, colon), a) ||
      !num(v->substr(colon + 1), b))
    return fail(fmt::format("{}= takes ID:SLOT, each 0..1023 (got \"{}\")", key, *v));
  return std::pair{static_cast<uint16_t>(a), static_cast<uint16_t>(b)};
}

void write_slotmaps(ctl::JsonWriter& out, const remsim::Slotmaps& maps) {
  out.begin_array();
  for (const auto& [id, m] : maps.all())
    out.begin_object()
        .field("id", static_cast<uint64_t>(id))
        .field("bank", fmt::format("{}:{}", m.bank.bank_id, m.bank.slot))
        .field("client", fmt::format("{}:{}", m.client.client_id, m.client.slot))
        .field("state", remsim::to_string(m.state))
        .end_object();
  out.end_array();
}

// A slotmap change in effect whose save failed: the command says so (a restart would lose it).
std::string not_saved(const remsim::RemsimServer& srv, uint32_t id, const std::string& error) {
  return fmt::format("slotmap {}: in effect, but not saved to {}: {}", id,
                     srv.options().slotmaps_path, error);
}

}  // namespace

void RemsimServerModule::append_metrics(ctl::PrometheusWriter& out) const {
  const remsim::RemsimServer& server = *server_;
  auto gauge = [&](std::string_view name, std::string_view help, uint64_t v) {
    out.begin_family(name, help, ctl::MetricType::gauge);
    out.sample(name, {}, v);
  };
  gauge("cellplane_remsim_banks", "Bank daemons registered with the remsim server.",
        server.banks().size());
  gauge("cellplane_remsim_clients", "Clients registered with the remsim server.",
        server.clients().size());
  uint64_t by_state[5] = {};
  for (const auto& [id, m] : server.slotmaps().all()) ++by_state[static_cast<size_t>(m.state)];
  out.begin_family("cellplane_remsim_slotmaps", "Slot mappings, by state.", ctl::MetricType::gauge);
  for (size_t i = 0; i < 5; ++i) {
    const std::string_view state = remsim::to_string(static_cast<remsim::SlotmapState>(i));
    const ctl::PrometheusLabel label[] = {{"state", state}};
    out.sample("cellplane_remsim_slotmaps", label, by_state[i]);
  }
  ctl::append_counters<remsim::ServerStats>(out, server.stats(), kServerCounters);
}

void BankdModule::append_metrics(ctl::PrometheusWriter& out) const {
  const auto& s = bankd_->stats();
  auto gauge = [&](std::string_view name, std::string_view help, uint64_t v) {
    out.begin_family(name, help, ctl::MetricType::gauge);
    out.sample(name, {}, v);
  };
  gauge("cellplane_bankd_server_link_up", "1 while the bank daemon is registered with the server.",
        s.server_up.load() ? 1 : 0);
  gauge("cellplane_bankd_clients", "Client connections of the bank daemon.",
        bankd_->workers().size());
  gauge("cellplane_bankd_mappings", "Mappings the bank daemon serves.", bankd_->mappings().size());
  ctl::append_counters<remsim::BankdStats>(out, s, kBankdCounters);
}

Result<void, std::string> install_remsim_server(ctl::ServiceHost& host) {
  const ctl::Config& config = host.config();
  if (!config.section<RemsimServerConfig>().enabled) return {};
  const RemsimServerConfig& c = config.section<RemsimServerConfig>();
  remsim::ServerOptions o;
  auto listen = SocketAddress::parse(c.listen);
  if (!listen) return fail("[remsim_server] listen: " + listen.error());
  o.listen = *listen;
  if (c.rest_listen.empty()) {
    o.rest_listen.reset();
  } else {
    auto rest = SocketAddress::parse(c.rest_listen);
    if (!rest) return fail("[remsim_server] rest_listen: " + rest.error());
    o.rest_listen = *rest;
  }
  o.rest_token = c.rest_token;
  o.slotmaps_path = config.state_path(c.slotmaps);
  if (!c.bankd_advertise.empty()) o.bankd_advertise = *SocketAddress::parse(c.bankd_advertise);
  o.bankd_port = static_cast<uint16_t>(c.bankd_port);
  o.id_timeout = static_cast<Nanos>(c.id_timeout_ms) * kNanosPerMilli;
  o.connections_max = c.max_connections;
  o.allow = *AddressFilter::parse(c.allow);  // checked when the file was read
  auto server = remsim::RemsimServer::create(std::move(o));
  if (!server) return fail("remsim server: " + server.error());
  remsim::RemsimServer& srv =
      host.add(std::make_unique<RemsimServerModule>(std::move(*server))).server();
  host.engine().on_each_core([&srv = srv](engine::Reactor& r) -> Result<void, std::string> {
    if (r.core() != 0) return {};
    return srv.start(r);
  });
  using ctl::ControlRequest;
  using ctl::JsonWriter;
  host.add_command(
      "remsim", "remsim server: addresses, banks, clients and slotmaps at a glance",
      [&srv = srv](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
        const auto& s = srv.stats();
        size_t active = 0;
        for (const auto& [id, m] : srv.slotmaps().all())
          active += m.state == remsim::SlotmapState::active;
        out.begin_object()
            .field("rspro", srv.bound_address().to_string())
            .field("rest", srv.rest_address() ? "http://" + srv.rest_address()->to_string()
                                              : std::string("off"))
            .field("banks", static_cast<uint64_t>(srv.banks().size()))
            .field("clients", static_cast<uint64_t>(srv.clients().size()))
            .field("slotmaps", static_cast<uint64_t>(srv.slotmaps().all().size()))
            .field("slotmaps_active", static_cast<uint64_t>(active))
            .field("restart_counter", srv.restart_counter());
        ctl::write_counters<ServerStats>(out, s, kServerCounters);
        out.end_object();
        return {};
      });
  host.add_command(
      "remsim.banks", "bank daemons registered with the remsim server",
      [&srv = srv](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
        out.begin_array();
        for (const auto& b : srv.banks())
          out.begin_object()
              .field("bank", static_cast<uint64_t>(b.bank_id))
              .field("slots", static_cast<uint64_t>(b.number_of_slots))
              .field("state", b.state)
              .field("name", b.identity.name)
              .field("software", b.identity.software + " " + b.identity.sw_version)
              .field("remote", b.remote)
              .end_object();
        out.end_array();
        return {};
      });
  host.add_command(
      "remsim.clients", "clients registered with the remsim server, and the bank each was told",
      [&srv = srv](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
        out.begin_array();
        for (const auto& cl : srv.clients())
          out.begin_object()
              .field("client", fmt::format("{}:{}", cl.client.client_id, cl.client.slot))
              .field("state", cl.state)
              .field("bankd", cl.bankd)
              .field("name", cl.identity.name)
              .field("software", cl.identity.software + " " + cl.identity.sw_version)
              .field("remote", cl.remote)
              .end_object();
        out.end_array();
        return {};
      });
  host.add_command(
      "remsim.slotmaps.list", "slot mappings (bank slot -> client slot) and their state",
      [&srv = srv](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
        write_slotmaps(out, srv.slotmaps());
        return {};
      });
  // A change is answered once it is on disk (RemsimServer::after_saved).
  host.add_async_command(
      "remsim.slotmaps.add", "map a bank slot to a client slot: bank=ID:SLOT client=ID:SLOT",
      [&srv = srv](const ControlRequest& req, ctl::AsyncDone done) {
        auto bank = parse_pair(req, "bank");
        if (!bank) return done(fail(bank.error()));
        auto client = parse_pair(req, "client");
        if (!client) return done(fail(client.error()));
        auto m = srv.add_slotmap({bank->first, bank->second}, {client->first, client->second});
        if (!m) return done(fail(m.error()));
        const uint32_t id = (*m)->id();
        srv.after_saved([&srv, id, done](const std::string& error) {
          if (!error.empty()) return done(fail(not_saved(srv, id, error)));
          const remsim::Slotmap* now = srv.slotmaps().by_id(id);
          done(fmt::format(R"({{"id":{},"state":"{}"}})", id,
                           now ? remsim::to_string(now->state) : "deleted"));
        });
      });
  host.add_async_command("remsim.slotmaps.delete", "delete a slot mapping: id=N or bank=ID:SLOT",
                         [&srv = srv](const ControlRequest& req, ctl::AsyncDone done) {
                           uint32_t id = 0;
                           if (req.has("id")) {
                             auto v = req.int_arg("id");
                             if (!v) return done(fail(v.error()));
                             if (*v < 0 || *v > (1023 << 16 | 1023))
                               return done(fail(std::string("id= is out of range")));
                             id = static_cast<uint32_t>(*v);
                           } else {
                             auto bank = parse_pair(req, "bank");
                             if (!bank) return done(fail(std::string("give id=N or bank=ID:SLOT")));
                             id = uint32_t{bank->first} << 16 | bank->second;
                           }
                           if (auto r = srv.delete_slotmap(id); !r)
                             return done(fail(fmt::format("slotmap {}: {}", id, r.error())));
                           srv.after_saved([&srv, id, done](const std::string& error) {
                             if (!error.empty()) return done(fail(not_saved(srv, id, error)));
                             const remsim::Slotmap* m = srv.slotmaps().by_id(id);
                             done(fmt::format(R"({{"id":{},"state":"{}"}})", id,
                                              m ? remsim::to_string(m->state) : "deleted"));
                           });
                         });
  return {};
}

Result<void, std::string> install_bankd(ctl::ServiceHost& host) {
  const ctl::Config& config = host.config();
  if (!config.section<BankdConfig>().enabled) return {};
  auto* server_module = host.find<RemsimServerModule>();
  remsim::RemsimServer* srv = server_module ? &server_module->server() : nullptr;
  const BankdConfig& c = config.section<BankdConfig>();
  remsim::BankdOptions o;
  auto listen = SocketAddress::parse(c.listen);
  if (!listen) return fail("[bankd] listen: " + listen.error());
  o.listen = *listen;
  o.allow = *AddressFilter::parse(c.allow);  // checked when the file was read
  o.bank_id = static_cast<uint16_t>(c.bank_id);
  o.name = c.name;
  o.id_timeout = static_cast<Nanos>(c.id_timeout_ms) * kNanosPerMilli;
  o.max_connections = c.max_connections;
  if (!c.server.empty()) {
    o.server = *SocketAddress::parse(c.server);
  } else if (!srv) {
    return fail(std::string(
        "[bankd] server is empty (this daemon's remsim server) but [remsim_server] is disabled"));
  }
  std::unique_ptr<remsim::CardBackend> backend;
  if (c.backend == 0) {
    remsim::SimCardOptions so;
    so.bank_id = o.bank_id;
    so.slots = static_cast<uint16_t>(c.sim_slots);
    if (!c.sim_cards.empty()) so.contents_dir = config.state_path(c.sim_cards);
    auto b = remsim::make_sim_backend(so);
    if (!b) return fail("[bankd] simulated cards: " + b.error());
    backend = std::move(*b);
  } else {
    const std::string path = config.state_path(c.readers);
    auto text = read_small_file(path);
    if (!text) return fail("[bankd] readers: " + text.error());
    if (!*text)
      return fail(
          fmt::format("[bankd] readers: {} does not exist; it lists \"bankId\",\"slotNr\","
                      "\"reader name regex\" per line (osmo-remsim's CSV)",
                      path));
    auto readers = remsim::parse_reader_csv(**text, path, o.bank_id);
    if (!readers) return fail("[bankd] readers:\n" + readers.error());
    remsim::PcscOptions po;
    po.bank_id = o.bank_id;
    po.readers = std::move(*readers);
    po.exclusive = c.exclusive;
    // The reader threads mostly sleep in PC/SC calls; pinned to the last CPU, away from reactor
    // 0, which serves their clients (with one CPU, that one).
    po.pin_cpu = static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) - 1;
    auto b = remsim::make_pcsc_backend(po);
    if (!b) return fail(fmt::format("[bankd] {}: {}", path, b.error()));
    backend = std::move(*b);
  }
  remsim::Bankd& bankd = host.add(std::make_unique<BankdModule>(std::make_unique<remsim::Bankd>(
                                      o, std::move(backend), host.engine().core_count())))
                             .bankd();
  const bool local_server = c.server.empty();
  const bool advertise_port = config.section<RemsimServerConfig>().bankd_advertise.empty();
  host.engine().on_each_core([&bankd = bankd, srv, local_server,
                              advertise_port](engine::Reactor& r) -> Result<void, std::string> {
    // Core 0 runs the remsim server's setup first (registered before), so its address is known.
    if (r.core() == 0 && local_server) bankd.set_server(srv->bound_address());
    auto ok = bankd.start_on_core(r);
    if (!ok) return ok;
    if (r.core() == 0 && srv && advertise_port) srv->set_bankd_port(bankd.bound_port());
    return {};
  });
  using ctl::ControlRequest;
  using ctl::JsonWriter;
  host.add_command(
      "bankd", "SIM bank daemon: bank, server link, counters",
      [&bankd = bankd](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
        const auto& s = bankd.stats();
        auto get = [](const auto& a) { return a.load(std::memory_order_relaxed); };
        out.begin_object()
            .field("bank", static_cast<uint64_t>(bankd.options().bank_id))
            .field("backend", bankd.backend().name())
            .field("slots", static_cast<uint64_t>(bankd.backend().slots()))
            .field("listen_port", static_cast<uint64_t>(bankd.bound_port()))
            .field("server", bankd.options().server.to_string())
            .field("server_link", get(s.server_up) ? "registered" : "down")
            .field("mappings", static_cast<uint64_t>(bankd.mappings().size()))
            .field("clients", static_cast<uint64_t>(bankd.workers().size()));
        ctl::write_counters<BankdStats>(out, s, kBankdCounters);
        out.end_object();
        return {};
      });
  host.add_command(
      "bankd.workers", "SIM bank daemon: one row per client connection, with its state",
      [&bankd = bankd](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
        out.begin_array();
        for (const auto& w : bankd.workers())
          out.begin_object()
              .field("core", static_cast<uint64_t>(w.core))
              .field("remote", w.remote)
              .field("state", remsim::to_string(w.state))
              .field("client", w.client ? fmt::format("{}:{}", w.client->client_id, w.client->slot)
                                        : std::string("-"))
              .field("bank_slot", w.bank ? std::to_string(w.bank->slot) : std::string("-"))
              .field("tpdus", w.tpdus)
              .end_object();
        out.end_array();
        return {};
      });
  host.add_command(
      "bankd.cards", "SIM bank daemon: the card or reader behind each slot",
      [&bankd = bankd](const ControlRequest&, JsonWriter& out) -> Result<void, std::string> {
        out.begin_array();
        for (const auto& line : bankd.backend().describe()) out.string(line);
        out.end_array();
        return {};
      });
  host.add_command(
      "bankd.card", "simulated cards: remove or insert one: slot=N present=true|false",
      [&bankd = bankd](const ControlRequest& req, JsonWriter& out) -> Result<void, std::string> {
        if (bankd.backend().name() != "sim")
          return fail(std::string("only simulated cards can be removed from here"));
        auto slot = req.int_arg("slot");
        if (!slot) return fail(slot.error());
        if (*slot < 0 || *slot >= bankd.backend().slots())
          return fail(fmt::format("slot= is 0..{}", bankd.backend().slots() - 1));
        auto present = req.bool_arg("present");
        if (!present) return fail(present.error());
        remsim::sim_set_present(bankd.backend(), static_cast<uint16_t>(*slot), *present);
        out.begin_object().field("slot", *slot).field("present", *present).end_object();
        return {};
      });
  return {};
}

void add_remsim_config(ctl::ConfigSchema& schema) {
  schema.add<RemsimServerConfig>();
  schema.add<BankdConfig>();
}

}  // namespace cp::wiring
