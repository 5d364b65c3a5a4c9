// The remsim server's REST API (osmo-remsim's /api/backend/v1: banks, clients, slotmaps,
// global reset, restart counter): JSON in and out, the token check. The RSPRO peers and the
// slotmap logic are in server.cc; this file only reads and calls RemsimServer's members.
#include <simdjson.h>

#include <charconv>

#include <fmt/format.h>

#include "base/constant_time.h"
#include "base/json_string.h"
#include "services/remsim/server.h"

namespace cp::remsim {

namespace rspro = proto::rspro;

namespace {

constexpr std::string_view kPrefix = "/api/backend/v1";

std::string_view type_name(rspro::ComponentType t) {
  switch (t) {
    case rspro::ComponentType::client:
      return "remsimClient";
    case rspro::ComponentType::server:
      return "remsimServer";
    case rspro::ComponentType::bankd:
      return "remsimBankd";
  }
  return "?";
}

// A decimal id from a REST path segment: digits only, at most `max`.
std::optional<uint32_t> parse_id(std::string_view s, uint32_t max) {
  uint32_t v = 0;
  if (s.empty() || s.size() > 10) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

void append_identity(std::string& j, const PeerIdentity& id) {
  j += "{\"type_\":\"";
  j += type_name(id.type);
  j += "\",\"name\":";
  append_json_string(id.name, j);
  j += ",\"software\":";
  append_json_string(id.software, j);
  j += ",\"swVersion\":";
  append_json_string(id.sw_version, j);
  static constexpr std::string_view kHw[] = {"hwManufacturer", "hwModel", "hwSerialNr", "hwVersion",
                                             "fwVersion"};
  for (size_t i = 0; i < id.hw.size(); ++i) {
    if (!id.hw[i]) continue;
    j += fmt::format(",\"{}\":", kHw[i]);
    append_json_string(*id.hw[i], j);
  }
  j += '}';
}

void append_peer(std::string& j, const PeerView& v, bool bank) {
  j += "{\"peer\":";
  append_json_string(v.peer, j);
  j += ",\"state\":";
  append_json_string(v.state, j);
  j += ",\"component_id\":";
  append_identity(j, v.identity);
  if (bank) j += fmt::format(",\"bankId\":{},\"numberOfSlots\":{}", v.bank_id, v.number_of_slots);
  j += '}';
}

void append_slotmap(std::string& j, const Slotmap& m) {
  j += fmt::format(
      "{{\"bank\":{{\"bankId\":{},\"slotNr\":{}}},\"client\":{{\"clientId\":{},\"slotNr\":{}}},"
      "\"state\":\"{}\"}}",
      m.bank.bank_id, m.bank.slot, m.client.client_id, m.client.slot, to_string(m.state));
}

// {"bank":{"bankId":1,"slotNr":0},"client":{"clientId":23,"slotNr":0}}
Result<std::pair<BankSlot, ClientSlot>, std::string> parse_slotmap(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  if (auto err = parser.parse(padded).get(doc); err)
    return fail(std::string("the body is not JSON: ") + simdjson::error_message(err));
  auto num = [&](const char* obj, const char* key) -> Result<uint16_t, std::string> {
    uint64_t v = 0;
    if (doc[obj][key].get_uint64().get(v) != simdjson::SUCCESS)
      return fail(fmt::format("\"{}\".\"{}\" is missing or not a non-negative integer", obj, key));
    if (v > 1023) return fail(fmt::format("\"{}\".\"{}\" is out of 0..1023", obj, key));
    return static_cast<uint16_t>(v);
  };
  auto bid = num("bank", "bankId");
  if (!bid) return fail(bid.error());
  auto bslot = num("bank", "slotNr");
  if (!bslot) return fail(bslot.error());
  auto cid = num("client", "clientId");
  if (!cid) return fail(cid.error());
  auto cslot = num("client", "slotNr");
  if (!cslot) return fail(cslot.error());
  return std::pair{BankSlot{*bid, *bslot}, ClientSlot{*cid, *cslot}};
}

}  // namespace

void RemsimServer::add_rest_routes() {
  using engine::http::HttpMethod;
  using engine::http::HttpRequest;
  using engine::http::HttpResponseWriter;
  // Every route goes through the token check first.
  auto route = [this](HttpMethod method, std::string path,
                      std::function<void(const HttpRequest&, HttpResponseWriter&)> fn) {
    rest_->add_route(method, std::string(kPrefix) + path,
                     [this, fn = std::move(fn)](const HttpRequest& req, HttpResponseWriter& out) {
                       ++stats_.rest_requests;
                       if (!opt_.rest_token.empty()) {
                         const auto auth = req.header("Authorization");
                         if (!auth || !constant_time_equal(*auth, "Bearer " + opt_.rest_token)) {
                           ++stats_.rest_unauthorized;
                           out.add_header("WWW-Authenticate", "Bearer");
                           out.set_error(401,
                                         "a valid \"Authorization: Bearer <token>\" is needed");
                           return;
                         }
                       }
                       fn(req, out);
                     });
  };
  // A change is answered once it is on disk: the response is held until the save is done, and
  // becomes a 500 saying so when the save failed (the change is in effect, but a restart would
  // lose it).
  auto answer_when_saved = [this] {
    if (saves_asked_ == saves_done_) return;  // nothing to wait for (no slotmaps file)
    after_saved([this, hold = rest_->hold_response()](const std::string& error) {
      if (error.empty()) return rest_->release(hold);
      rest_->release_as_error(hold, 500,
                              fmt::format("the change is in effect but was not saved to {}: {}",
                                          opt_.slotmaps_path, error));
    });
  };
  auto tail_id = [](const HttpRequest& req, std::string_view collection) {
    return std::string_view(req.path).substr(kPrefix.size() + collection.size() + 1);
  };

  route(HttpMethod::get, "/banks", [this](const HttpRequest&, HttpResponseWriter& out) {
    std::string j = "{\"banks\":[";
    bool first = true;
    for (const auto& b : banks()) {
      if (!first) j += ',';
      first = false;
      append_peer(j, b, true);
    }
    j += "]}";
    out.set_json(200, j);
  });
  route(HttpMethod::get, "/banks/*",
        [this, tail_id](const HttpRequest& req, HttpResponseWriter& out) {
          const auto id = parse_id(tail_id(req, "/banks"), 1023);
          if (!id) return (void)out.set_error(400, "a bank id is 0..1023");
          for (const auto& b : banks()) {
            if (b.bank_id != *id) continue;
            std::string j;
            append_peer(j, b, true);
            out.set_json(200, j);
            return;
          }
          out.set_error(404, fmt::format("bank {} is not connected", *id));
        });
  route(HttpMethod::get, "/clients", [this](const HttpRequest&, HttpResponseWriter& out) {
    std::string j = "{\"clients\":[";
    bool first = true;
    for (const auto& c : clients()) {
      if (!first) j += ',';
      first = false;
      append_peer(j, c, false);
    }
    j += "]}";
    out.set_json(200, j);
  });
  route(HttpMethod::get, "/clients/*",
        [this, tail_id](const HttpRequest& req, HttpResponseWriter& out) {
          const auto id = parse_id(tail_id(req, "/clients"), 1023);
          if (!id) return (void)out.set_error(400, "a client id is 0..1023");
          for (const auto& c : clients()) {
            if (c.client.client_id != *id) continue;
            std::string j;
            append_peer(j, c, false);
            out.set_json(200, j);
            return;
          }
          out.set_error(404, fmt::format("client {} is not connected", *id));
        });
  route(HttpMethod::get, "/slotmaps", [this](const HttpRequest&, HttpResponseWriter& out) {
    std::string j = "{\"slotmaps\":[";
    bool first = true;
    for (const auto& [id, m] : maps_.all()) {
      if (!first) j += ',';
      first = false;
      append_slotmap(j, m);
    }
    j += "]}";
    out.set_json(200, j);
  });
  route(HttpMethod::post, "/slotmaps",
        [this, answer_when_saved](const HttpRequest& req, HttpResponseWriter& out) {
          const auto type = req.header("Content-Type");
          if (!type || type->substr(0, type->find(';')) != "application/json")
            return (void)out.set_error(400, "Content-Type must be application/json");
          auto m = parse_slotmap(req.body);
          if (!m) return (void)out.set_error(400, m.error());
          auto added = add_slotmap(m->first, m->second);
          if (!added) return (void)out.set_error(400, added.error());
          out.set_status(201);
          answer_when_saved();
        });
  route(HttpMethod::delete_, "/slotmaps/*",
        [this, tail_id, answer_when_saved](const HttpRequest& req, HttpResponseWriter& out) {
          const auto id = parse_id(tail_id(req, "/slotmaps"), 1023u << 16 | 1023u);
          if (!id) return (void)out.set_error(400, "a slotmap id is bankId * 65536 + slotNr");
          if (auto r = delete_slotmap(*id); !r)
            return (void)out.set_error(404, fmt::format("slotmap {}: {}", *id, r.error()));
          out.set_status(200);
          answer_when_saved();
        });
  route(HttpMethod::post, "/global-reset",
        [this, answer_when_saved](const HttpRequest&, HttpResponseWriter& out) {
          global_reset();
          out.set_status(200);
          answer_when_saved();
        });
  route(HttpMethod::get, "/restart-counter", [this](const HttpRequest&, HttpResponseWriter& out) {
    out.set_json(200, fmt::format("{{\"restart_counter\":{}}}", restart_counter_));
  });
}

}  // namespace cp::remsim
