// smsc-dump: reads and decodes the persistent message store (ThemWi-SMSC design, sections 2.2.3
// and 3.2) without talking to the daemon. The whole tool lives here so tests drive it directly;
// dump_main.cc only hands it argv, SSH_ORIGINAL_COMMAND and the standard streams.
//
//   - Selection: a start time found by binary search in every shard (or the beginning), then the
//     shards merged in entry-time order until the end, a count of matching messages, or an end
//     time; or one message addressed directly by its id. Filters on numbers, SME classes, state
//     and disposition.
//   - Privacy: without --show-content nothing a user wrote is printed, only metadata (lengths,
//     coding, UDH concatenation and ports). Metadata always comes first in an entry.
//   - Restricted mode (--restricted NUMBER): every entry involves NUMBER, and every option that
//     could widen that (another number, another store, a shard, an id, raw hex) is refused. As
//     an ssh forced command the user's own command line comes from SSH_ORIGINAL_COMMAND and may
//     hold only the options that narrow. docs/STORAGE.md ("smsc-dump") has the recipe.
//
// Output goes to the given stream (text blocks or JSON lines); warnings and errors go to the
// error stream. Exit status: 0 ok, 1 the store could not be read (or --id found nothing),
// 2 usage (including everything restricted mode refuses).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "storage/dump/shard_reader.h"
#include "storage/record.h"

namespace cp::storage::dump {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

// The store read when --store is not given, and the only one restricted mode reads: the
// daemon's default `<state_dir>/pms` unless the build sets CP_SMSC_DUMP_STORE (a deployment
// that offers restricted mode should set an absolute path: a relative one is resolved against
// the working directory).
std::string_view default_store();

enum class OutputFormat : uint8_t { text, json };

// A number as given on the command line, in the form addresses are compared in: digits only
// (0-9 * # a b c), a leading '+' dropped, and a 10-digit NANP number (first digit 2-9) without
// '+' taken as its 11-digit 1NXXNXXXXXX form. A record's address compares in the same form: a
// 10-digit NANP address counts as 1 + those digits unless its TON is international (1).
// Alphanumeric originators (TON 5) match no number.
struct NumberQuery {
  std::string canonical;
  bool operator==(const NumberQuery&) const = default;
};
Result<NumberQuery, std::string> parse_number(std::string_view text);
bool address_matches(const Address& address, const NumberQuery& query);

struct DumpOptions {
  std::string store{default_store()};
  std::optional<unsigned> shard;      // only this shard
  std::optional<int64_t> from_ns;     // entry time >= from (binary search)
  std::optional<int64_t> until_ns;    // entry time < until (stops the walk)
  std::optional<uint64_t> count;      // at most this many matching messages
  std::optional<NumberQuery> number;  // src, dst_written or dst_routed
  std::optional<NumberQuery> source;  // src
  std::optional<NumberQuery> dest;    // dst_written or dst_routed
  std::optional<SmeClass> src_class;
  std::optional<SmeClass> dst_class;
  std::optional<RecordState> state;
  std::optional<Disposition> disposition;
  std::optional<uint64_t> message_id;  // print this message only (the filters do not apply)
  bool show_content = false;
  bool hex = false;  // also the raw record in hex (user data masked without show_content)
  bool verbose = false;
  OutputFormat format = OutputFormat::text;
  // The writer's [store] batch_kib: how far past the end of the log a torn commit may reach.
  uint32_t batch_kib = ShardReader::kDefaultBatchKib;
  // Restricted mode: every entry must have this number as its src or dst_routed (dst_written is
  // what a sender typed, not who received the message, so it does not count here).
  std::optional<NumberQuery> restricted;
};

// Runs one dump. Never throws; a store that cannot be opened is exit status 1.
int run(const DumpOptions& options, std::ostream& out, std::ostream& err);

// The whole command line: `args` without the program name; `ssh_original_command` is the
// environment's SSH_ORIGINAL_COMMAND (nullptr when unset), read only in restricted mode.
// Parses (printing --help to `out`), enforces restricted mode, then runs.
int dump_main(std::span<const std::string> args, const char* ssh_original_command,
              std::ostream& out, std::ostream& err);

// What dump_main parses before running: the options, or an exit status to return at once
// (usage errors, already explained on `err`, or --help, already printed on `out`).
Result<DumpOptions, int> parse_command_line(std::span<const std::string> args,
                                            const char* ssh_original_command, std::ostream& out,
                                            std::ostream& err);

// ---- pieces, public for the tests ---------------------------------------------------------------

// "2026-11-23T18:00:00Z", with optional fractional seconds (up to nanoseconds) and a "+hh:mm" /
// "-hh:mm" offset instead of Z; "2026-11-23" (midnight UTC); "@1764000000" or "@1764000000.25"
// (Unix seconds). A time of day without Z or an offset is refused: it would be ambiguous.
Result<int64_t, std::string> parse_time(std::string_view text);
// UTC nanoseconds -> "2026-11-23T18:00:00.123Z" (milliseconds, truncated).
std::string format_time(int64_t ns);
// "123" or "SHARD:INDEX" -> message id.
Result<uint64_t, std::string> parse_message_id(std::string_view text);

// Text a terminal shows literally: printable UTF-8 is kept; C0 and C1 controls, DEL, bidi and
// line/paragraph separators become \xNN / \u{NNNN} (\n \r \t by name), invalid UTF-8 octets
// \xNN, and '\' and '"' are backslash-escaped. So a message can never move the cursor, recolour
// or retitle the terminal.
std::string escape_for_terminal(std::string_view text);
// `text` as a JSON string literal (RFC 8259), controls, DEL, C1 and bidi controls as \uNNNN,
// invalid UTF-8 as U+FFFD: always valid JSON, and as harmless on a terminal as the above
// (base/json_string.h escapes only what JSON requires).
void append_terminal_safe_json_string(std::string_view text, std::string& out);

// One entry as printed (with a trailing newline): what run() writes for each message.
std::string format_entry(const SmRecord& record, unsigned shard, uint64_t index,
                         const DumpOptions& options);

}  // namespace cp::storage::dump
