// smsc-dump's command line (base/cli.h) and restricted mode: which options exist, which of them a
// restricted user may give, and how SSH_ORIGINAL_COMMAND is read (split on whitespace, never
// through a shell, only the narrowing options).
#include <algorithm>
#include <array>
#include <filesystem>
#include <limits>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "base/cli.h"
#include "storage/dump/dump.h"

namespace cp::storage::dump {
namespace {

// Every option as given, validated and converted in to_options.
struct RawArgs {
  std::string store, store_positional, shard, from, until, count, number, source, dest;
  std::string src_class, dst_class, state, disposition, id, format, restricted, batch_kib;
  bool show_content = false;
  bool hex = false;
  bool verbose = false;
};

// The only options a restricted user may give (in SSH_ORIGINAL_COMMAND): each narrows what is
// shown, or changes only how it is shown. Everything else is refused before parsing.
constexpr std::array<std::string_view, 13> kNarrowingOptions = {
    "from",      "until", "count",       "number",       "source", "dest", "src-class",
    "dst-class", "state", "disposition", "show-content", "format", "help"};

constexpr const char* kFooter = R"(
Times: 2026-11-23T18:00:00Z, 2026-11-23T18:00:00.250+02:00, 2026-11-23 (midnight UTC) or
@1764000000 (Unix seconds). --from is inclusive, --until exclusive.
Numbers: digits; a leading + is dropped; a 10-digit NANP number also matches its 11-digit
1NXXNXXXXXX form. --number matches src, dst (as written) or dst (as routed).
Privacy: without --show-content no user data is printed, only metadata.
Restricted mode: --restricted NUMBER shows only messages from or routed to NUMBER (their
content may be shown) and refuses every option that could widen that. Used as an ssh forced
command, the user's own options come from SSH_ORIGINAL_COMMAND (no shell).
Exit status: 0 ok, 1 the store could not be read or --id found nothing, 2 usage.)";

void add_narrowing_options(cli::App& app, RawArgs& raw) {
  app.option("--from", raw.from, "Start at the first message entered at or after TIME")
      .type_name("TIME");
  app.option("--until", raw.until, "Stop at the first message entered at or after TIME")
      .type_name("TIME");
  app.option("--count", raw.count, "Show at most N matching messages").type_name("N");
  app.option("--number", raw.number, "Only messages from or to DIGITS").type_name("DIGITS");
  app.option("--source", raw.source, "Only messages from DIGITS").type_name("DIGITS");
  app.option("--dest", raw.dest, "Only messages to DIGITS (as written or as routed)")
      .type_name("DIGITS");
  app.option("--src-class", raw.src_class, "Only messages from local|gsm|upstream|downstream")
      .type_name("CLASS");
  app.option("--dst-class", raw.dst_class, "Only messages to local|gsm|upstream|downstream")
      .type_name("CLASS");
  app.option("--state", raw.state, "Only active or historical messages").type_name("STATE");
  app.option("--disposition", raw.disposition,
             "Only delivered|failed|expired|cancelled|stored-only|none")
      .type_name("DISPOSITION");
  app.flag("--show-content", raw.show_content, "Also print the message text (user data)");
  app.option("--format", raw.format, "text (default) or json (one object per line)")
      .type_name("FORMAT");
}

void add_admin_options(cli::App& app, RawArgs& raw) {
  app.option("STORE", raw.store_positional, "Same as --store");
  app.option("--store", raw.store,
             "The store root holding shard-N/ (default " + std::string(default_store()) + ")")
      .type_name("DIR");
  app.option("--shard", raw.shard, "Read only shard N").type_name("N");
  app.option("--id", raw.id, "Print only the message with this id (or SHARD:INDEX)")
      .type_name("ID");
  app.flag("--hex", raw.hex,
           "Also print the raw record in hex (user data and its CRC only with "
           "--show-content)");
  app.flag("-v,--verbose", raw.verbose, "Shard sizes and a summary on stderr");
  app.option("--batch-kib", raw.batch_kib,
             "The writer's [store] batch_kib, if larger than 4096: how far past the end of "
             "the log a torn commit may reach")
      .type_name("KIB");
  app.option("--restricted", raw.restricted,
             "Restricted mode: only messages from or to NUMBER; refuses widening options")
      .type_name("NUMBER");
}

// Parses `args` (in order) into `raw`; the names of the options given are added to `given`.
// Returns an exit status when parsing ends the run (help printed, or a usage error explained).
std::optional<int> parse_into(cli::App& app, std::span<const std::string> args,
                              std::set<std::string>& given, std::ostream& out, std::ostream& err) {
  std::ostringstream why;  // a usage error as CLI11 explains it, printed after our name
  if (const auto status = app.parse(args, out, why)) {
    if (*status == 0) return kExitOk;  // --help
    err << "smsc-dump: " << why.str();
    return kExitUsage;
  }
  for (std::string& name : app.given_options()) given.insert(std::move(name));
  return std::nullopt;
}

template <typename T>
Result<T, std::string> parse_name(std::string_view option, const std::string& text,
                                  std::initializer_list<std::pair<std::string_view, T>> names) {
  std::string all;
  for (const auto& [name, value] : names) {
    if (name == text) return value;
    all += all.empty() ? "" : "|";
    all += name;
  }
  return fail("--" + std::string(option) + ": '" + text + "' is not one of " + all);
}

Result<uint64_t, std::string> parse_unsigned(std::string_view option, const std::string& text,
                                             uint64_t max) {
  uint64_t value = 0;
  bool ok = !text.empty() && text.size() <= 20;
  for (char c : text) {
    if (!ok) break;
    ok = c >= '0' && c <= '9' && value <= (max - static_cast<uint64_t>(c - '0')) / 10;
    if (ok) value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok)
    return fail("--" + std::string(option) + ": '" + text + "' is not a number up to " +
                std::to_string(max));
  return value;
}

// The filters: numbers (and the restricted number), SME classes, state, disposition.
Result<void, std::string> convert_filters(const RawArgs& raw, const std::set<std::string>& given,
                                          DumpOptions& o) {
  const auto has = [&](const char* name) { return given.contains(name); };
  for (auto [name, text, field] :
       {std::tuple{"--number", &raw.number, &o.number},
        std::tuple{"--source", &raw.source, &o.source}, std::tuple{"--dest", &raw.dest, &o.dest},
        std::tuple{"--restricted", &raw.restricted, &o.restricted}}) {
    if (!has(name)) continue;
    auto n = parse_number(*text);
    if (!n) return fail(std::string(name) + ": " + n.error());
    *field = std::move(*n);
  }
  const std::initializer_list<std::pair<std::string_view, SmeClass>> classes = {
      {"local", SmeClass::local},
      {"gsm", SmeClass::gsm},
      {"upstream", SmeClass::upstream},
      {"downstream", SmeClass::downstream}};
  for (auto [name, text, field] : {std::tuple{"src-class", &raw.src_class, &o.src_class},
                                   std::tuple{"dst-class", &raw.dst_class, &o.dst_class}}) {
    if (!has(("--" + std::string(name)).c_str())) continue;
    auto c = parse_name(name, *text, classes);
    if (!c) return fail(c.error());
    *field = *c;
  }
  if (has("--state")) {
    auto s = parse_name<RecordState>(
        "state", raw.state,
        {{"active", RecordState::active}, {"historical", RecordState::historical}});
    if (!s) return fail(s.error());
    o.state = *s;
  }
  if (has("--disposition")) {
    auto d = parse_name<Disposition>("disposition", raw.disposition,
                                     {{"delivered", Disposition::delivered},
                                      {"failed", Disposition::failed_permanently},
                                      {"expired", Disposition::expired},
                                      {"cancelled", Disposition::cancelled},
                                      {"stored-only", Disposition::stored_only},
                                      {"none", Disposition::none}});
    if (!d) return fail(d.error());
    o.disposition = *d;
  }
  return {};
}

Result<DumpOptions, std::string> to_options(const RawArgs& raw,
                                            const std::set<std::string>& given) {
  DumpOptions o;
  const auto has = [&](const char* name) { return given.contains(name); };
  if (has("STORE") && has("--store")) return fail("give the store once (STORE or --store)");
  if (has("STORE")) o.store = raw.store_positional;
  if (has("--store")) o.store = raw.store;
  if (o.store.empty()) return fail("--store: empty path");
  if (has("--shard")) {
    auto v = parse_unsigned("shard", raw.shard, kShardsMax - 1);
    if (!v) return fail(v.error());
    o.shard = static_cast<unsigned>(*v);
  }
  for (auto [name, text, field] : {std::tuple{"--from", &raw.from, &o.from_ns},
                                   std::tuple{"--until", &raw.until, &o.until_ns}}) {
    if (!has(name)) continue;
    auto t = parse_time(*text);
    if (!t) return fail(std::string(name) + ": " + t.error());
    *field = *t;
  }
  if (o.from_ns && o.until_ns && *o.until_ns <= *o.from_ns) {
    return fail("--until must be later than --from");
  }
  if (has("--count")) {
    auto v = parse_unsigned("count", raw.count, std::numeric_limits<uint64_t>::max());
    if (!v) return fail(v.error());
    o.count = *v;
  }
  if (auto ok = convert_filters(raw, given, o); !ok) return fail(ok.error());
  if (has("--id")) {
    auto id = parse_message_id(raw.id);
    if (!id) return fail("--id: " + id.error());
    o.message_id = *id;
  }
  if (has("--format")) {
    auto f = parse_name<OutputFormat>("format", raw.format,
                                      {{"text", OutputFormat::text}, {"json", OutputFormat::json}});
    if (!f) return fail(f.error());
    o.format = *f;
  }
  if (has("--batch-kib")) {
    auto v = parse_unsigned("batch-kib", raw.batch_kib, uint64_t{1} << 20);
    if (!v || *v == 0) return fail(v ? "--batch-kib: must be at least 1" : v.error());
    o.batch_kib = static_cast<uint32_t>(*v);
  }
  o.show_content = raw.show_content;
  o.hex = raw.hex;
  o.verbose = raw.verbose;
  return o;
}

// Restricted mode: everything that could show a message not involving the number is refused.
Result<void, std::string> enforce_restricted(const DumpOptions& o,
                                             const std::set<std::string>& given) {
  for (const char* name : {"--shard", "--id", "--hex", "--verbose"}) {
    if (given.contains(name)) return fail(std::string(name) + " is not allowed");
  }
  const auto normal = [](std::string_view p) {
    auto path = std::filesystem::path(p).lexically_normal();
    return path.has_filename() ? path : path.parent_path();  // "pms/" is "pms"
  };
  if (normal(o.store) != normal(default_store())) {
    return fail("only the default store " + std::string(default_store()) + " may be read");
  }
  for (auto [name, query] : {std::pair{"--number", &o.number}, std::pair{"--source", &o.source},
                             std::pair{"--dest", &o.dest}}) {
    if (*query && **query != *o.restricted) {
      return fail(std::string(name) + " may only name " + o.restricted->canonical);
    }
  }
  return {};
}

// SSH_ORIGINAL_COMMAND as words: split on whitespace, never through a shell. An optional first
// word naming the program (smsc-dump or a path ending in /smsc-dump) is dropped; every other
// word starting with '-' must be a narrowing option. Option values are left to CLI11.
Result<std::vector<std::string>, std::string> ssh_words(std::string_view command) {
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos < command.size()) {
    const size_t start = command.find_first_not_of(" \t\r\n", pos);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(command.find_first_of(" \t\r\n", start), command.size());
    words.emplace_back(command.substr(start, end - start));
    pos = end;
  }
  if (!words.empty() && !words.front().starts_with('-')) {
    const std::string& program = words.front();
    if (program != "smsc-dump" && !program.ends_with("/smsc-dump")) {
      return fail("only smsc-dump may be run here, not '" + program + "'");
    }
    words.erase(words.begin());
  }
  for (std::string_view word : words) {
    if (!word.starts_with('-') || word == "-h") continue;
    std::string_view name = word;
    name = name.substr(0, name.find('='));
    if (!name.starts_with("--") || std::find(kNarrowingOptions.begin(), kNarrowingOptions.end(),
                                             name.substr(2)) == kNarrowingOptions.end()) {
      return fail("option '" + std::string(name) + "' is not allowed");
    }
  }
  return words;
}

}  // namespace

Result<DumpOptions, int> parse_command_line(std::span<const std::string> args,
                                            const char* ssh_original_command, std::ostream& out,
                                            std::ostream& err) {
  RawArgs raw;
  std::set<std::string> given;
  cli::App app("Read and decode the SMSC's persistent message store.", "smsc-dump");
  app.footer(kFooter);
  add_narrowing_options(app, raw);
  add_admin_options(app, raw);
  if (auto status = parse_into(app, args, given, out, err)) return fail(*status);

  const bool restricted = given.contains("--restricted");
  if (restricted && ssh_original_command != nullptr) {
    // The forced command's own options (argv) were written by the administrator; the user's
    // come from SSH_ORIGINAL_COMMAND and may only narrow.
    auto words = ssh_words(ssh_original_command);
    if (!words) {
      err << "smsc-dump: restricted to " << raw.restricted << ": " << words.error() << "\n";
      return fail(kExitUsage);
    }
    cli::App user_app("Read your own SMS from the message store.", "smsc-dump");
    add_narrowing_options(user_app, raw);
    if (auto status = parse_into(user_app, *words, given, out, err)) return fail(*status);
  }

  auto options = to_options(raw, given);
  if (!options) {
    err << "smsc-dump: " << options.error() << "\n";
    return fail(kExitUsage);
  }
  if (restricted) {
    if (auto ok = enforce_restricted(*options, given); !ok) {
      err << "smsc-dump: restricted to " << options->restricted->canonical << ": " << ok.error()
          << "\n";
      return fail(kExitUsage);
    }
  }
  return std::move(*options);
}

int dump_main(std::span<const std::string> args, const char* ssh_original_command,
              std::ostream& out, std::ostream& err) {
  auto options = parse_command_line(args, ssh_original_command, out, err);
  if (!options) return options.error();
  return run(*options, out, err);
}

}  // namespace cp::storage::dump
