// smsc-dump driven through dump_main / run on stores written by the test: time order across
// shards, --from/--until/--count, every filter, --id, privacy, control characters, JSON lines,
// restricted mode (each widening option refused) and SSH_ORIGINAL_COMMAND.
#include <simdjson.h>

#include <map>
#include <random>
#include <sstream>

#include "storage/dump/dump.h"
#include "tests/storage_dump/test_store.h"

namespace cp::storage::dump {
namespace {

using test::Msg;
using test::ShardFile;
using test::TempDir;

constexpr int64_t kT0 = 1'764'000'000'000'000'000;  // 2025-11-24T16:00:00Z
constexpr int64_t kSecond = 1'000'000'000;
constexpr const char* kAlice = "15551230001";  // the restricted user in these tests

// The store every test reads. Entry times are kT0 + n seconds; ids below are shard:index.
//   0:0  t1 alice -> bob (written 10-digit), historical delivered, "secret one"
//   1:0  t2 bob -> alice, active, local -> upstream, "secret two"
//   2:0  t3 +447700900123 (upstream) -> 5551230003, historical failed
//   0:1  t4 carol -> downstream 15551239999, expired, control characters (UCS-2)
//   1:1  t5 dave -> erin, cancelled
//   0:2  t6 erin -> frank, stored-only          (same time as 2:1: shard order)
//   2:1  t6 frank -> erin, delivered
//   1:2  t7 "Bank" (alphanumeric) -> alice
//   2:2  t8 grace -> written 5551230001 but routed to 15559990000 (not alice's)
class DumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ShardFile s0(tmp_.path(), 0);
    ShardFile s1(tmp_.path(), 1);
    ShardFile s2(tmp_.path(), 2);
    s0.append(msg(1, kAlice, "5551230002", "15551230002", "secret one"));
    Msg m2 = msg(2, "15551230002", "15551230001", kAlice, "secret two");
    m2.dst_written_ton = 1;
    m2.state = RecordState::active;
    m2.disposition = Disposition::none;
    m2.src_class = SmeClass::local;
    m2.dst_class = SmeClass::upstream;
    s1.append(m2);
    Msg m3 = msg(3, "447700900123", "5551230003", "15551230003", "from abroad");
    m3.src_class = SmeClass::upstream;
    m3.disposition = Disposition::failed_permanently;
    s2.append(m3);
    Msg m4 = msg(4, "15551230004", "5551239999", "15551239999",
                 "bad\x1b[2J\r\n\xc2\x9b"
                 "31m\xe2\x80\xae"
                 "evil\"\\");
    m4.ucs2 = true;
    m4.dst_class = SmeClass::downstream;
    m4.disposition = Disposition::expired;
    s0.append(m4);
    Msg m5 = msg(5, "15551230005", "5551230006", "15551230006", "never mind");
    m5.disposition = Disposition::cancelled;
    s1.append(m5);
    Msg m6 = msg(6, "15551230006", "5551230007", "15551230007", "archive only");
    m6.disposition = Disposition::stored_only;
    s0.append(m6);
    s2.append(msg(6, "15551230007", "5551230006", "15551230006", "tie"));
    SmRecord bank = test::to_record(msg(7, "0", "5551230001", kAlice, "your code is 1234"));
    const auto name = sms::pack_septets(*sms::utf8_to_gsm7("Bank"));
    bank.src = Address{};
    bank.src.ton = 5;
    bank.src.npi = 0;
    bank.src.length = static_cast<uint8_t>(name.size());
    std::memcpy(bank.src.packed, name.data(), name.size());
    seal(bank);
    s1.append(bank);
    s2.append(msg(8, "15557770000", "5551230001", "15559990000", "forwarded"));
    for (ShardFile* f : {&s0, &s1, &s2}) f->preallocate(100);
  }

  static Msg msg(int second, std::string src, std::string written, std::string routed,
                 std::string text) {
    Msg m;
    m.time_ns = kT0 + second * kSecond;
    m.src = std::move(src);
    m.dst_written = std::move(written);
    m.dst_routed = std::move(routed);
    m.text = std::move(text);
    return m;
  }

  struct Output {
    int status;
    std::string out, err;
  };
  Output dump(std::vector<std::string> args, const char* ssh = nullptr) {
    args.insert(args.begin(), {"--store", tmp_.path().string()});
    std::ostringstream out, err;
    const int status = dump_main(args, ssh, out, err);
    return {status, out.str(), err.str()};
  }
  Output run_options(const DumpOptions& options) {
    std::ostringstream out, err;
    const int status = run(options, out, err);
    return {status, out.str(), err.str()};
  }
  DumpOptions options() const {
    DumpOptions o;
    o.store = tmp_.path().string();
    return o;
  }

  // The "shard:index" of every text entry, in order.
  static std::vector<std::string> ids(const std::string& text) {
    std::vector<std::string> result;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line[0] != ' ') result.push_back(line.substr(0, line.find(' ')));
    }
    return result;
  }
  std::vector<std::string> ids_of(std::vector<std::string> args) {
    const Output o = dump(std::move(args));
    EXPECT_EQ(o.status, kExitOk) << o.err;
    return ids(o.out);
  }

  TempDir tmp_;
};

using Ids = std::vector<std::string>;

TEST_F(DumpTest, EverythingInTimeOrderAcrossShards) {
  const Output o = dump({});
  ASSERT_EQ(o.status, kExitOk) << o.err;
  EXPECT_EQ(ids(o.out), (Ids{"0:0", "1:0", "2:0", "0:1", "1:1", "0:2", "2:1", "1:2", "2:2"}));
  EXPECT_EQ(o.err, "");
  // Metadata of the first entry.
  EXPECT_NE(o.out.find("0:0 id=0 entry=2025-11-24T16:00:01.000Z state=historical "
                       "disposition=delivered discharge=2025-11-24T16:00:02.500Z\n"),
            std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("  src=15551230001 ton=1 npi=1 class=gsm\n"), std::string::npos);
  EXPECT_NE(o.out.find("  dst=5551230002 ton=0 npi=1 routed=15551230002 ton=1 npi=1 class=gsm "
                       "imsi=001010000000002\n"),
            std::string::npos);
  EXPECT_NE(o.out.find("  pid=0x00 dcs=0x00 alphabet=gsm7 mr=7 srr=no "
                       "expiry=2025-11-25T16:00:01.000Z udl=10\n"),
            std::string::npos);
  EXPECT_NE(o.out.find("1:0 id=72057594037927936 "), std::string::npos);  // shard in top bits
  EXPECT_NE(o.out.find("  src=\"Bank\" ton=5 npi=0 class=gsm\n"), std::string::npos);
  EXPECT_NE(o.out.find("class=upstream peer=0"), std::string::npos);
}

TEST_F(DumpTest, FromUntilCount) {
  EXPECT_EQ(ids_of({"--from", "2025-11-24T16:00:02Z"}),
            (Ids{"1:0", "2:0", "0:1", "1:1", "0:2", "2:1", "1:2", "2:2"}));
  EXPECT_EQ(ids_of({"--from", "2025-11-24T16:00:01.5Z", "--count", "2"}), (Ids{"1:0", "2:0"}));
  EXPECT_EQ(ids_of({"--from", "2025-11-24T18:00:06+02:00"}), (Ids{"0:2", "2:1", "1:2", "2:2"}));
  EXPECT_EQ(ids_of({"--from", "@1764000006", "--until", "@1764000008"}),
            (Ids{"0:2", "2:1", "1:2"}));  // --until is exclusive
  EXPECT_EQ(ids_of({"--until", "2025-11-24T16:00:03Z"}), (Ids{"0:0", "1:0"}));
  EXPECT_EQ(ids_of({"--from", "2025-11-25"}), Ids{});
  EXPECT_EQ(ids_of({"--count", "0"}), Ids{});
  EXPECT_EQ(ids_of({"--count", "1", "--state", "active"}), Ids{"1:0"});
}

TEST_F(DumpTest, EveryFilter) {
  // Numbers: src, dst as written and dst as routed; 10 and 11-digit NANP forms; '+'.
  const Ids alice = {"0:0", "1:0", "1:2", "2:2"};
  EXPECT_EQ(ids_of({"--number", "15551230001"}), alice);
  EXPECT_EQ(ids_of({"--number", "5551230001"}), alice);
  EXPECT_EQ(ids_of({"--number", "+15551230001"}), alice);
  EXPECT_EQ(ids_of({"--number", "447700900123"}), Ids{"2:0"});
  EXPECT_EQ(ids_of({"--source", "5551230001"}), Ids{"0:0"});
  EXPECT_EQ(ids_of({"--dest", "15551230001"}), (Ids{"1:0", "1:2", "2:2"}));
  EXPECT_EQ(ids_of({"--dest", "5551230006"}), (Ids{"1:1", "2:1"}));
  EXPECT_EQ(ids_of({"--number", "15551230002", "--source", "15551230002"}), Ids{"1:0"});
  EXPECT_EQ(ids_of({"--number", "999"}), Ids{});
  // Classes.
  EXPECT_EQ(ids_of({"--src-class", "upstream"}), Ids{"2:0"});
  EXPECT_EQ(ids_of({"--src-class", "local"}), Ids{"1:0"});
  EXPECT_EQ(ids_of({"--dst-class", "upstream"}), Ids{"1:0"});
  EXPECT_EQ(ids_of({"--dst-class", "downstream"}), Ids{"0:1"});
  EXPECT_EQ(ids_of({"--src-class", "downstream"}), Ids{});
  // State and disposition.
  EXPECT_EQ(ids_of({"--state", "active"}), Ids{"1:0"});
  EXPECT_EQ(ids_of({"--state", "historical"}).size(), 8u);
  EXPECT_EQ(ids_of({"--disposition", "none"}), Ids{"1:0"});
  EXPECT_EQ(ids_of({"--disposition", "failed"}), Ids{"2:0"});
  EXPECT_EQ(ids_of({"--disposition", "expired"}), Ids{"0:1"});
  EXPECT_EQ(ids_of({"--disposition", "cancelled"}), Ids{"1:1"});
  EXPECT_EQ(ids_of({"--disposition", "stored-only"}), Ids{"0:2"});
  EXPECT_EQ(ids_of({"--disposition", "delivered"}), (Ids{"0:0", "2:1", "1:2", "2:2"}));
  // One shard.
  EXPECT_EQ(ids_of({"--shard", "1"}), (Ids{"1:0", "1:1", "1:2"}));
  EXPECT_EQ(ids_of({"--shard", "2", "--from", "2025-11-24T16:00:04Z"}), (Ids{"2:1", "2:2"}));
}

TEST_F(DumpTest, MessageId) {
  EXPECT_EQ(ids_of({"--id", "1:2"}), Ids{"1:2"});
  EXPECT_EQ(ids_of({"--id", std::to_string(make_message_id(2, 1))}), Ids{"2:1"});
  const Output missing = dump({"--id", "1:3"});
  EXPECT_EQ(missing.status, kExitRuntime);
  EXPECT_NE(missing.err.find("no message 1:3"), std::string::npos) << missing.err;
  EXPECT_EQ(dump({"--id", "9:0"}).status, kExitRuntime);
  EXPECT_EQ(dump({"--id", "300:0"}).status, kExitUsage);
  EXPECT_EQ(dump({"--id", "x"}).status, kExitUsage);
}

TEST_F(DumpTest, ContentOnlyWithShowContent) {
  for (const char* format : {"text", "json"}) {
    const Output hidden = dump({"--format", format});
    ASSERT_EQ(hidden.status, kExitOk);
    EXPECT_EQ(hidden.out.find("secret"), std::string::npos) << format;
    EXPECT_EQ(hidden.out.find("1234"), std::string::npos) << format;
    EXPECT_EQ(hidden.out.find("evil"), std::string::npos) << format;
    const Output shown = dump({"--format", format, "--show-content"});
    ASSERT_EQ(shown.status, kExitOk);
    EXPECT_NE(shown.out.find("secret one"), std::string::npos) << format;
    EXPECT_NE(shown.out.find("secret two"), std::string::npos) << format;
    EXPECT_NE(shown.out.find("your code is 1234"), std::string::npos) << format;
  }
  EXPECT_NE(dump({"--show-content"}).out.find("  text=\"secret one\"\n"), std::string::npos);
  // Metadata comes first: the text line is the last of its entry.
  const std::string one = dump({"--show-content", "--count", "1"}).out;
  EXPECT_EQ(one.substr(one.rfind("\n  ", one.size() - 2)), "\n  text=\"secret one\"\n");

  // Raw hex masks the user data (offset 116 = 0x74 on) unless content is asked for.
  auto hex_line = [](const std::string& text, const char* prefix) {
    const size_t at = text.find(prefix);
    return at == std::string::npos ? std::string() : text.substr(at, text.find('\n', at) - at);
  };
  const std::string hex = dump({"--hex", "--count", "1"}).out;
  const std::string line_60 = hex_line(hex, "  hex 60:");
  ASSERT_EQ(line_60.size(), 9 + 32 * 3u) << hex;
  EXPECT_EQ(line_60.find(".."), 9 + 20 * 3u + 1) << line_60;  // 20 metadata bytes, then masked
  // The CRC32C (bytes 4..7) covers the user data: masked too (issue 15).
  const std::string line_00 = hex_line(hex, "  hex 00:");
  EXPECT_EQ(line_00.substr(9, 4 * 3).find(".."), std::string::npos) << line_00;
  EXPECT_EQ(line_00.substr(9 + 4 * 3, 4 * 3), " .. .. .. ..") << line_00;
  EXPECT_EQ(
      hex_line(hex, "  hex e0:"), "  hex e0:" + [] {
        std::string dots;
        for (int i = 0; i < 32; ++i) dots += " ..";
        return dots;
      }());
  const std::string hex_content = dump({"--hex", "--show-content", "--count", "1"}).out;
  EXPECT_EQ(hex_content.find(".."), std::string::npos);
  EXPECT_EQ(hex_line(hex_content, "  hex 60:").size(), 9 + 32 * 3u);
}

TEST_F(DumpTest, ControlCharactersAreEscaped) {
  for (const char* format : {"text", "json"}) {
    const Output o = dump({"--format", format, "--show-content", "--disposition", "expired"});
    ASSERT_EQ(o.status, kExitOk) << o.err;
    EXPECT_EQ(o.out.find('\x1b'), std::string::npos) << format;
    EXPECT_EQ(o.out.find('\r'), std::string::npos) << format;
    EXPECT_EQ(o.out.find("\xc2\x9b"), std::string::npos) << format;
    EXPECT_EQ(o.out.find("\xe2\x80\xae"), std::string::npos) << format;
    // One line per newline the format itself writes: the message's \n is escaped.
    EXPECT_EQ(o.out.find("evil\n"), std::string::npos) << format;
  }
  EXPECT_NE(dump({"--show-content", "--disposition", "expired"})
                .out.find("  text=\"bad\\x1b[2J\\r\\n\\u{009b}31m\\u{202e}evil\\\"\\\\\"\n"),
            std::string::npos);
  EXPECT_NE(dump({"--format", "json", "--show-content", "--disposition", "expired"})
                .out.find("\"text\":\"bad\\u001b[2J\\r\\n\\u009b31m\\u202eevil\\\"\\\\\""),
            std::string::npos);

  EXPECT_EQ(escape_for_terminal("a\x07z\x7f\t"), "a\\x07z\\x7f\\t");
  EXPECT_EQ(escape_for_terminal("\xff\xc3"), "\\xff\\xc3");  // invalid UTF-8
  EXPECT_EQ(escape_for_terminal("caf\xc3\xa9 \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(escape_for_terminal("\xe2\x80\xa8\xe2\x81\xa6"), "\\u{2028}\\u{2066}");
  std::string json;
  append_terminal_safe_json_string("\xff\x01\xe2\x80\xa9x", json);
  EXPECT_EQ(json, "\"\\ufffd\\u0001\\u2029x\"");
}

TEST_F(DumpTest, JsonLinesParse) {
  const Output o = dump({"--format", "json", "--show-content", "--hex"});
  ASSERT_EQ(o.status, kExitOk) << o.err;
  simdjson::dom::parser parser;
  std::istringstream in(o.out);
  std::vector<uint64_t> ids;
  for (std::string line; std::getline(in, line);) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << line;
    ids.push_back(uint64_t(e["id"]));
    EXPECT_EQ(std::string_view(e["hex"]).size(), 2 * kRecordBytes);
    if (uint64_t(e["id"]) == make_message_id(1, 0)) {
      EXPECT_EQ(uint64_t(e["shard"]), 1u);
      EXPECT_EQ(uint64_t(e["index"]), 0u);
      EXPECT_EQ(std::string_view(e["entry"]), "2025-11-24T16:00:02.000Z");
      EXPECT_EQ(int64_t(e["entry_ns"]), kT0 + 2 * kSecond);
      EXPECT_EQ(std::string_view(e["state"]), "active");
      EXPECT_EQ(std::string_view(e["disposition"]), "none");
      EXPECT_EQ(std::string_view(e["src"]["digits"]), "15551230002");
      EXPECT_EQ(std::string_view(e["dst_routed"]["digits"]), kAlice);
      EXPECT_EQ(uint64_t(e["dst_written"]["ton"]), 1u);
      EXPECT_EQ(std::string_view(e["src_class"]), "local");
      EXPECT_EQ(std::string_view(e["dst_class"]), "upstream");
      EXPECT_EQ(std::string_view(e["alphabet"]), "gsm7");
      EXPECT_EQ(uint64_t(e["udl"]), 10u);
      EXPECT_EQ(std::string_view(e["text"]), "secret two");
      EXPECT_EQ(std::string_view(e["imsi"]), "001010000000002");
      EXPECT_FALSE(e["discharge"].error() == simdjson::SUCCESS);
    }
    if (uint64_t(e["id"]) == make_message_id(1, 2)) {
      EXPECT_EQ(std::string_view(e["src"]["alphanumeric"]), "Bank");
    }
    if (uint64_t(e["id"]) == make_message_id(0, 1)) {
      EXPECT_EQ(std::string_view(e["text"]),
                "bad\x1b[2J\r\n\xc2\x9b"
                "31m\xe2\x80\xae"
                "evil\"\\");  // escaped, and read back exactly
      EXPECT_EQ(std::string_view(e["alphabet"]), "ucs2");
    }
  }
  EXPECT_EQ(ids.size(), 9u);
  // Without content: no text field, and the hex stops before the user data.
  const Output meta = dump({"--format", "json", "--hex", "--count", "1"});
  simdjson::dom::element e;
  ASSERT_EQ(parser.parse(meta.out).get(e), simdjson::SUCCESS) << meta.out;
  EXPECT_NE(e["text"].error(), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(e["hex"]).size(), 2 * offsetof(SmRecord, user_data));
  EXPECT_EQ(std::string_view(e["hex"]).substr(2 * offsetof(SmRecord, crc32c), 8), "--------");
}

TEST_F(DumpTest, RestrictedShowsOnlyTheNumbersOwnMessages) {
  DumpOptions o = options();
  o.restricted = *parse_number(kAlice);
  o.show_content = true;
  const Output out = run_options(o);
  ASSERT_EQ(out.status, kExitOk) << out.err;
  // 2:2 was written to alice's number but routed elsewhere: not hers.
  EXPECT_EQ(ids(out.out), (Ids{"0:0", "1:0", "1:2"}));
  EXPECT_NE(out.out.find("secret two"), std::string::npos);  // her own content may be shown
  EXPECT_EQ(out.out.find("forwarded"), std::string::npos);
  // Narrowing options still narrow.
  o.state = RecordState::active;
  EXPECT_EQ(ids(run_options(o).out), Ids{"1:0"});
}

TEST_F(DumpTest, RestrictedRefusesEveryWideningOption) {
  const std::vector<std::vector<std::string>> refused = {
      {"--number", "15551230009"},
      {"--number", "5551230009"},
      {"--source", "15551230009"},
      {"--dest", "15551230009"},
      {"--store", "/var/tmp/other"},
      {"/var/tmp/other"},
      {"--shard", "0"},
      {"--id", "0:0"},
      {"--id", "0"},
      {"--hex"},
      {"--verbose"},
      {"-v"},
  };
  for (const auto& extra : refused) {
    std::vector<std::string> args = {"--restricted", kAlice};
    args.insert(args.end(), extra.begin(), extra.end());
    std::ostringstream out, err;
    const auto parsed = parse_command_line(args, nullptr, out, err);
    ASSERT_FALSE(parsed.has_value()) << extra[0];
    EXPECT_EQ(parsed.error(), kExitUsage) << extra[0];
    EXPECT_NE(err.str().find("restricted to 15551230001: "), std::string::npos) << err.str();
    // And the whole tool exits 2 without reading anything.
    std::ostringstream out2, err2;
    EXPECT_EQ(dump_main(args, nullptr, out2, err2), kExitUsage) << extra[0];
    EXPECT_EQ(out2.str(), "");
  }
  const std::vector<std::vector<std::string>> allowed = {
      {},
      {"--number", "5551230001"},
      {"--source", "+15551230001"},
      {"--dest", kAlice},
      {"--store", std::string(default_store())},
      {"--store", std::string(default_store()) + "/"},
      {"--store", std::string(default_store()) + "/."},
      {"--show-content", "--format", "json", "--from", "2025-01-01", "--until", "@1800000000",
       "--count", "3", "--state", "active", "--disposition", "none", "--src-class", "gsm",
       "--dst-class", "local"},
  };
  for (const auto& extra : allowed) {
    std::vector<std::string> args = {"--restricted", kAlice};
    args.insert(args.end(), extra.begin(), extra.end());
    std::ostringstream out, err;
    const auto parsed = parse_command_line(args, nullptr, out, err);
    ASSERT_TRUE(parsed.has_value()) << (extra.empty() ? "" : extra[0]) << ": " << err.str();
    ASSERT_TRUE(parsed->restricted.has_value());
    EXPECT_EQ(parsed->restricted->canonical, kAlice);
  }
}

TEST_F(DumpTest, SshOriginalCommand) {
  const std::vector<std::string> forced = {"--restricted", kAlice};
  auto parse = [&](const char* ssh, std::string* err_text = nullptr) {
    std::ostringstream out, err;
    auto parsed = parse_command_line(forced, ssh, out, err);
    if (err_text != nullptr) *err_text = err.str() + out.str();
    return parsed;
  };
  for (const char* ok :
       {"", "   ", "smsc-dump", "smsc-dump --count 1 --show-content",
        "/usr/local/bin/smsc-dump --from 2025-11-24T16:00:00Z", "--format=json",
        "--number 15551230001", "  --count\t2\n", "--source 5551230001 --state historical"}) {
    std::string err;
    const auto parsed = parse(ok, &err);
    ASSERT_TRUE(parsed.has_value()) << "'" << ok << "': " << err;
    EXPECT_EQ(parsed->restricted->canonical, kAlice);
  }
  const auto narrowed = parse("smsc-dump --count 1 --show-content --format json");
  ASSERT_TRUE(narrowed.has_value());
  EXPECT_EQ(narrowed->count, 1u);
  EXPECT_TRUE(narrowed->show_content);
  EXPECT_EQ(narrowed->format, OutputFormat::json);

  for (const char* bad : {"--shard 1",
                          "--batch-kib 8",
                          "--restricted 15551230009",
                          "--store /",
                          "--store=/",
                          "--id 1",
                          "--hex",
                          "-v",
                          "--verbose",
                          "--number 15551230009",
                          "--dest=15551230009",
                          "ls -la",
                          "cat /etc/shadow",
                          "smsc-dump; cat /etc/shadow",
                          "--count 1 ; rm -rf /",
                          "--count 1 ;",
                          "--count $(id)",
                          "--count",
                          "-x",
                          "--",
                          "STORE",
                          "--from yesterday"}) {
    std::string err;
    const auto parsed = parse(bad, &err);
    ASSERT_FALSE(parsed.has_value()) << "'" << bad << "' was accepted";
    EXPECT_EQ(parsed.error(), kExitUsage) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  std::string help;
  const auto asked = parse("--help", &help);
  ASSERT_FALSE(asked.has_value());
  EXPECT_EQ(asked.error(), kExitOk);
  EXPECT_NE(help.find("--show-content"), std::string::npos);
  EXPECT_EQ(help.find("--shard"), std::string::npos);  // the user's help lists only theirs

  // Without --restricted, SSH_ORIGINAL_COMMAND is not read (argv is the command line).
  std::ostringstream out, err;
  const std::vector<std::string> admin = {"--count", "2"};
  const auto plain = parse_command_line(admin, "--shard 1", out, err);
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->shard.has_value());
  EXPECT_FALSE(plain->restricted.has_value());
}

TEST_F(DumpTest, UsageAndRuntimeErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--from", "yesterday"},
                                             {"--from", "2025-11-24T16:00:00"},
                                             {"--until", "2025-02-30"},
                                             {"--src-class", "alien"},
                                             {"--dst-class", "GSM"},
                                             {"--state", "done"},
                                             {"--disposition", "lost"},
                                             {"--count", "-1"},
                                             {"--count", "ten"},
                                             {"--format", "xml"},
                                             {"--shard", "256"},
                                             {"--number", "555-1234"},
                                             {"--number", ""},
                                             {"--from", "@20", "--until", "@10"},
                                             {"--unknown"},
                                             {"--batch-kib", "0"},
                                             {"--batch-kib", "2000000"},
                                             {"/a", "/b"}}) {
    const Output o = dump(args);
    EXPECT_EQ(o.status, kExitUsage) << args[0];
    EXPECT_EQ(o.out, "") << args[0];
    EXPECT_NE(o.err.find("smsc-dump: "), std::string::npos) << args[0];
  }
  std::ostringstream out, err;
  const std::vector<std::string> args = {"--store", (tmp_.path() / "missing").string()};
  EXPECT_EQ(dump_main(args, nullptr, out, err), kExitRuntime);
  EXPECT_NE(err.str().find("missing"), std::string::npos);
  EXPECT_EQ(out.str(), "");

  std::ostringstream help_out, help_err;
  const std::vector<std::string> help = {"--help"};
  EXPECT_EQ(dump_main(help, nullptr, help_out, help_err), kExitOk);
  EXPECT_NE(help_out.str().find("--restricted"), std::string::npos);
}

TEST_F(DumpTest, TornTailIsAWarningOnStderrOnly) {
  const Output before = dump({});
  // Rewrite shard 1 with one record, then a torn one, then preallocated blanks.
  {
    ShardFile s1(tmp_.path(), 1);
    Msg m = msg(2, "15551230002", "15551230001", kAlice, "secret two");
    s1.append(m);
    s1.append_torn();
    s1.preallocate(10);
  }
  const Output torn = dump({"--shard", "1"});
  EXPECT_EQ(torn.status, kExitOk);
  EXPECT_EQ(ids(torn.out), Ids{"1:0"});
  EXPECT_NE(torn.err.find("warning: "), std::string::npos);
  EXPECT_NE(torn.err.find("shard-1/pms.bin: slot 1 (index 1) is bad checksum: a torn tail"),
            std::string::npos)
      << torn.err;
  EXPECT_EQ(before.err, "");
}

TEST_F(DumpTest, BatchKib) {
  std::ostringstream out, err;
  const std::vector<std::string> args = {"--batch-kib", "65536"};
  const auto parsed = parse_command_line(args, nullptr, out, err);
  ASSERT_TRUE(parsed.has_value()) << err.str();
  EXPECT_EQ(parsed->batch_kib, 65536u);
  EXPECT_EQ(ids_of({"--batch-kib", "65536"}).size(), 9u);
  EXPECT_EQ(ids_of({"--batch-kib", "8"}).size(), 9u);
}

TEST_F(DumpTest, VerboseSummaryOnStderr) {
  const Output o = dump({"--verbose", "--count", "2"});
  EXPECT_EQ(o.status, kExitOk);
  EXPECT_NE(o.err.find("smsc-dump: shard 0: 3 records (index 0..2, "), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("2 shown"), std::string::npos) << o.err;
  EXPECT_EQ(ids(o.out).size(), 2u);
}

// Records of random bytes (sealed, so a reader would believe them): every entry in both formats
// has no raw control byte, and every JSON line parses. Prints its seed on failure.
TEST(DumpPieces, RandomRecordsFormatSafely) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  simdjson::dom::parser parser;
  DumpOptions o;
  o.show_content = true;
  o.hex = true;
  for (int round = 0; round < 3000; ++round) {
    SmRecord r;
    auto* bytes = reinterpret_cast<uint8_t*>(&r);
    for (size_t i = 0; i < sizeof r; ++i) bytes[i] = static_cast<uint8_t>(rng());
    if (round % 2 == 0) r.src.ton = 5;  // alphanumeric originators too
    seal(r);
    for (OutputFormat format : {OutputFormat::text, OutputFormat::json}) {
      o.format = format;
      const std::string entry = format_entry(r, round % 256, round, o);
      for (size_t i = 0; i + 1 < entry.size(); ++i) {
        const auto c = static_cast<unsigned char>(entry[i]);
        const auto next = static_cast<unsigned char>(entry[i + 1]);
        ASSERT_TRUE((c >= 0x20 && c != 0x7F) || c == '\n') << "seed " << seed << " round " << round;
        ASSERT_FALSE(c == 0xC2 && next >= 0x80 && next <= 0x9F)  // a C1 control in UTF-8
            << "seed " << seed << " round " << round;
      }
      if (format == OutputFormat::json) {
        simdjson::dom::element e;
        ASSERT_EQ(parser.parse(entry).get(e), simdjson::SUCCESS)
            << "seed " << seed << " round " << round << ": " << entry;
      }
    }
  }
}

TEST(DumpPieces, StatusReportsAreMarked) {
  SmRecord r;
  r.flags = SmRecord::kFlagReport;
  r.dcs = 0x04;
  r.ud_length = 32;
  seal(r);
  DumpOptions o;
  o.format = OutputFormat::text;
  EXPECT_NE(format_entry(r, 0, 1, o).find(" status-report"), std::string::npos);
  o.format = OutputFormat::json;
  EXPECT_NE(format_entry(r, 0, 1, o).find("\"status_report\":true"), std::string::npos);
  r.flags = 0;
  seal(r);
  EXPECT_EQ(format_entry(r, 0, 1, o).find("status_report"), std::string::npos);
}

// ---- the pieces --------------------------------------------------------------------------

TEST(DumpPieces, ParseTime) {
  EXPECT_EQ(parse_time("2026-11-23T18:00:00Z"), 1'795'456'800 * kSecond);
  EXPECT_EQ(parse_time("2026-11-23t18:00:00z"), 1'795'456'800 * kSecond);
  EXPECT_EQ(parse_time("2026-11-23 18:00Z"), 1'795'456'800 * kSecond);
  EXPECT_EQ(parse_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time("1970-01-01"), 0);
  EXPECT_EQ(parse_time("2000-02-29T12:34:56.789+01:30"), 951'822'296'789'000'000);
  EXPECT_EQ(parse_time("2000-02-29T12:34:56.789+0130"), 951'822'296'789'000'000);
  EXPECT_EQ(parse_time("2026-11-23T13:00:00-05:00"), 1'795'456'800 * kSecond);
  EXPECT_EQ(parse_time("2026-11-23T18:00:00.000000001Z"), 1'795'456'800 * kSecond + 1);
  EXPECT_EQ(parse_time("@1764000000"), kT0);
  EXPECT_EQ(parse_time("@1764000000.25"), kT0 + 250'000'000);
  for (const char* bad :
       {"", "2026", "2026-11-23T18:00:00", "2026-02-29", "2026-13-01", "2026-11-23T24:00Z",
        "2026-11-23T18:60Z", "2026-11-23T18:00:00.Z", "2026-11-23T18:00:00.1234567890Z",
        "2026-11-23T18:00:00Zjunk", "2026-11-23T18:00:00+25:00", "@", "@1x", "@99999999999999",
        "1800-01-01", "26-11-23"}) {
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
  }
}

TEST(DumpPieces, FormatTime) {
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_time(951'822'296'789'999'999), "2000-02-29T11:04:56.789Z");
  EXPECT_EQ(format_time(1'795'456'800 * kSecond), "2026-11-23T18:00:00.000Z");
  for (int64_t t : {int64_t{0}, kT0, kT0 + 123'000'000, int64_t{951'822'296'789'000'000}}) {
    EXPECT_EQ(parse_time(format_time(t)), t);
  }
}

TEST(DumpPieces, NumbersAndAddresses) {
  auto address = [](const char* d, uint8_t ton) {
    Address a;
    EXPECT_TRUE(set_digits(a, d, ton, 1));
    return a;
  };
  const NumberQuery nanp = *parse_number("5551230001");
  EXPECT_EQ(nanp.canonical, "15551230001");
  EXPECT_EQ(parse_number("+15551230001")->canonical, "15551230001");
  EXPECT_EQ(parse_number("*611")->canonical, "*611");
  EXPECT_EQ(parse_number("+5551230001")->canonical, "5551230001");  // '+': as given
  EXPECT_EQ(parse_number("1551230001")->canonical, "1551230001");   // not NANP (NPA 1xx)
  EXPECT_FALSE(parse_number("").has_value());
  EXPECT_FALSE(parse_number("+").has_value());
  EXPECT_FALSE(parse_number("555 1234").has_value());
  EXPECT_FALSE(parse_number(std::string(21, '1')).has_value());

  EXPECT_TRUE(address_matches(address("15551230001", 1), nanp));
  EXPECT_TRUE(address_matches(address("5551230001", 0), nanp));
  EXPECT_TRUE(address_matches(address("5551230001", 2), nanp));
  // Ten digits with TON international are not NANP (+55 is Brazil).
  EXPECT_FALSE(address_matches(address("5551230001", 1), nanp));
  EXPECT_TRUE(address_matches(address("5551230001", 1), *parse_number("+5551230001")));
  EXPECT_FALSE(address_matches(address("5551230001", 0), *parse_number("+5551230001")));
  EXPECT_FALSE(address_matches(address("155512300011", 1), nanp));
  EXPECT_FALSE(address_matches(Address{}, nanp));
  Address alpha = address("15551230001", 1);
  alpha.ton = 5;  // alphanumeric: never a number
  EXPECT_FALSE(address_matches(alpha, nanp));

  EXPECT_EQ(parse_message_id("5"), 5u);
  EXPECT_EQ(parse_message_id("3:7"), make_message_id(3, 7));
  EXPECT_EQ(parse_message_id("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parse_message_id("18446744073709551616").has_value());
  EXPECT_FALSE(parse_message_id("256:0").has_value());
  EXPECT_FALSE(parse_message_id("1:").has_value());
  EXPECT_FALSE(parse_message_id(":1").has_value());
}

}  // namespace
}  // namespace cp::storage::dump
