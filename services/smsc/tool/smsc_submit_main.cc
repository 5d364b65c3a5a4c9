// smsc-submit (ThemWi-SMSC design 3.1): enters a message into a running SMSC core over its local
// socket, as any other component does (SUBMIT, docs/SMSC-SOCKET.md), and prints the message id
// once the core says the message is durable.
//
//   smsc-submit [options] SOURCE DESTINATION < body
//
// The body is, by default, what FreeCalypso's sms-encode-text writes (`dcs 0 septet` / `msg HEX`
// / `msg-udh HEX` lines: one SMS each); with --text it is plain UTF-8 that smsc-submit encodes
// (GSM 7-bit or UCS-2, split into concatenated segments). --imsi skips routing and delivers to
// that SIM (locally generated messages). --restricted NUMBER is for end users over ssh: the
// source is forced to NUMBER and the submitter is untrusted (PID / DCS filters apply).
//
// Exit status: 0 every segment accepted (or already there: a duplicate), 1 the core refused one
// (its reason printed), 2 the core cannot be reached, 64 bad usage or bad input.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "base/cli.h"
#include "ctl/config.h"
#include "services/smsc/client.h"
#include "services/smsc/config.h"
#include "services/smsc/submit_input.h"
#include "services/smsc/wire.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUnreachable = 2;
constexpr int kExitUsage = 64;

struct Options {
  std::string socket, config, imsi, restricted;
  std::string source, destination;
  bool text = false, ucs2 = false, srr = false, untrusted = false, quiet = false;
  uint32_t validity_s = 0;
  int mr = -1, pid = -1;
};

int usage_error(const std::string& what) {
  std::fprintf(stderr, "smsc-submit: %s\n", what.c_str());
  return kExitUsage;
}

// "+CC..." is international (TON 1); digits alone are as dialled (TON 0).
bool set_number(cp::storage::Address& a, std::string n) {
  uint8_t ton = 0;
  if (!n.empty() && n[0] == '+') {
    ton = 1;
    n.erase(0, 1);
  }
  if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) return false;
  return cp::storage::set_digits(a, n, ton, 1);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  cp::cli::App app{
      "smsc-submit: enter a short message into the SMSC core (docs/SMSC.md). The body comes on "
      "stdin: sms-encode-text lines by default, plain UTF-8 with --text."};
  app.option("source", o.source, "originator: digits as dialled, or +CC... (international)");
  app.option("destination", o.destination, "destination: digits as dialled, or +CC...");
  app.option("--socket", o.socket, "the core's socket (default: from the configuration)");
  app.option("--config", o.config, "cellplaned's configuration file, for the socket path");
  app.flag("--text", o.text, "the body is UTF-8 text (GSM 7-bit or UCS-2, split as needed)");
  app.flag("--ucs2", o.ucs2, "with --text: always UCS-2");
  app.flag("--srr", o.srr, "ask for a status report");
  app.option("--validity", o.validity_s, "validity period, seconds (default: the core's)");
  app.option("--mr", o.mr, "message reference of the first segment (default: random)")
      .range(0, 255);
  app.option("--pid", o.pid, "TP-PID (default 0, or the input's pid line)").range(0, 255);
  app.option("--imsi", o.imsi,
             "skip routing: deliver to this SIM (locally generated messages; the destination "
             "is kept as written)");
  app.flag("--untrusted", o.untrusted, "apply the core's PID / DCS filters");
  app.option("--restricted", o.restricted,
             "end-user mode (ssh forced command): the source is NUMBER whatever is given, "
             "only SOURCE-less 'DESTINATION' is taken, untrusted, no --imsi / --pid");
  // (The restricted user reaches smsc-submit only through scripts/smsc-user-shell, which passes
  // the operator's --config.)
  app.flag("-q,--quiet", o.quiet, "print nothing on success");
  app.footer(
      "Exit status: 0 accepted (or a duplicate of an active message), 1 refused by the core, "
      "2 the core cannot be reached, 64 bad usage or input.");
  if (const auto status = app.parse(argc, argv)) return *status == 0 ? kExitOk : kExitUsage;
  if (!o.restricted.empty()) {
    // One positional only (the destination); nothing that widens what the user may do.
    // --socket / --config stay allowed: the operator's wrapper sets them, never the user.
    if (!o.imsi.empty() || o.pid >= 0)
      return usage_error("--restricted: --imsi and --pid are not allowed");
    if (!o.destination.empty()) return usage_error("--restricted: give only the destination");
    o.destination = o.source;
    o.source = o.restricted;
    o.untrusted = true;
  }
  if (o.source.empty() || o.destination.empty())
    return usage_error("SOURCE and DESTINATION are required (see --help)");

  std::string socket = o.socket;
  if (socket.empty()) {
    // Only [smsc] (and state_dir) matter here; the other sections are the daemon's to check.
    cp::ctl::ConfigSchema schema;
    schema.add<cp::wiring::SmscConfig>();
    cp::ctl::Config config(schema);
    if (!o.config.empty()) {
      auto loaded = cp::ctl::load_config_file(o.config, schema, cp::ctl::UnknownSections::skip);
      if (!loaded) return usage_error(loaded.error().to_string());
      config = *loaded;
    }
    socket = config.state_path(config.section<cp::wiring::SmscConfig>().socket);
  }

  std::string body;
  for (char chunk[4096];;) {
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return usage_error(std::string("stdin: ") + std::strerror(errno));
    if (n == 0) break;
    body.append(chunk, static_cast<size_t>(n));
    if (body.size() > (1 << 20)) return usage_error("stdin: more than 1 MiB of input");
  }
  std::mt19937 rng(static_cast<uint32_t>(
      std::chrono::steady_clock::now().time_since_epoch().count() ^ ::getpid()));
  cp::smsc::EncodedInput input;
  if (o.text) {
    std::string t = body;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    auto segs = cp::smsc::encode_text(t, static_cast<uint8_t>(rng()), o.ucs2);
    if (!segs) return usage_error("--text: " + segs.error());
    input.segments = std::move(*segs);
  } else {
    auto parsed = cp::smsc::parse_encoded(body);
    if (!parsed)
      return usage_error("stdin: " + parsed.error() +
                         " (sms-encode-text lines expected; --text for plain text)");
    input = std::move(*parsed);
  }

  cp::smsc::wire::Submit s;
  cp::storage::SmRecord& r = s.record;
  if (!set_number(r.src, o.source)) return usage_error("bad source number '" + o.source + "'");
  if (!set_number(r.dst_written, o.destination))
    return usage_error("bad destination number '" + o.destination + "'");
  r.src_class = static_cast<uint8_t>(cp::storage::SmeClass::local);
  r.pid = static_cast<uint8_t>(o.pid >= 0 ? o.pid : input.pid >= 0 ? input.pid : 0);
  s.validity_s = o.validity_s;
  s.flags = cp::smsc::wire::kSubmitLocallyOriginated;
  if (o.untrusted) s.flags |= cp::smsc::wire::kSubmitUntrusted;
  if (!o.imsi.empty()) {
    if (!cp::storage::set_imsi(r, o.imsi) || o.imsi.size() < 6)
      return usage_error("--imsi: 6 to 15 digits");
    s.flags |= cp::smsc::wire::kSubmitDeliverToImsi;
  }
  unsigned mr = o.mr >= 0       ? static_cast<unsigned>(o.mr)
                : input.mr >= 0 ? static_cast<unsigned>(input.mr)
                                : static_cast<unsigned>(rng() & 0xFF);

  auto client = cp::smsc::SmscClient::connect(socket);
  if (!client) {
    std::fprintf(stderr, "smsc-submit: %s\n", client.error().c_str());
    return kExitUnreachable;
  }
  int rc = kExitOk;
  std::byte buf[cp::smsc::wire::kMessageMax];
  for (size_t k = 0; k < input.segments.size(); ++k) {
    const cp::smsc::Segment& seg = input.segments[k];
    r.dcs = seg.dcs;
    r.ud_length = seg.ud_length;
    r.flags = static_cast<uint8_t>(
        (seg.udhi ? cp::storage::SmRecord::kFlagUdhi : 0) |
        (o.srr || input.status_report ? cp::storage::SmRecord::kFlagStatusReport : 0));
    std::memset(r.user_data, 0, sizeof r.user_data);
    std::memcpy(r.user_data, seg.user_data.data(), seg.user_data.size());
    r.message_ref = static_cast<uint16_t>((mr + k) & 0xFF);
    const uint64_t id = k + 1;
    auto answer = client->call({buf, cp::smsc::wire::encode_submit(buf, id, s)}, id);
    if (!answer) {
      std::fprintf(stderr, "smsc-submit: segment %zu: %s\n", k + 1, answer.error().c_str());
      return kExitUnreachable;
    }
    const auto st = answer->header.status;
    if (st == cp::smsc::wire::Status::ok || st == cp::smsc::wire::Status::duplicate) {
      if (!o.quiet) {
        // As smsc-dump prints it: SHARD:INDEX and the message id (cellctl smsc show takes either).
        const uint64_t mid = answer->message_id;
        std::printf("%u:%llu id=%llu%s\n", cp::storage::message_shard(mid),
                    static_cast<unsigned long long>(cp::storage::message_index(mid)),
                    static_cast<unsigned long long>(mid),
                    st == cp::smsc::wire::Status::duplicate
                        ? " (a duplicate of this active message: nothing new stored)"
                        : "");
      }
    } else {
      std::fprintf(stderr, "smsc-submit: segment %zu refused: %s\n", k + 1,
                   std::string(cp::smsc::wire::to_string(st)).c_str());
      rc = kExitRefused;
      break;
    }
  }
  return rc;
}
