// cellplaned and cellctl as an operator uses them: the real binaries, started as processes,
// talking over the real control socket and HTTP.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proto/smpp/pdu.h"
#include "tests/support/process.h"
#include "tests/support/reactor_harness.h"

namespace {

namespace fs = std::filesystem;

using cp::test::Child;
using cp::test::free_port;
using cp::test::Output;
using cp::test::run;

class Daemon : public cp::test::Process {
 public:
  // `env`: extra NAME=value pairs for the daemon's environment.
  Daemon(const fs::path& dir, const std::vector<std::string>& extra,
         const std::vector<std::string>& env = {})
      : Process(with_program(extra), dir / "daemon.log", env) {}

 private:
  static std::vector<std::string> with_program(const std::vector<std::string>& extra) {
    std::vector<std::string> args{CELLPLANED_PATH};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
};

// The value of "key":NUMBER in a JSON line.
std::string json_number(const std::string& line, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("\"" + key + "\":([0-9]+)"))) return "";
  return m[1].str();
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cellplane-daemon-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = (dir_ / "cellplane.toml").string();
    std::ofstream(config_)
        << "state_dir = \"" << (dir_ / "state").string() << "\"\n"
        << "[engine]\ncores = 2\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
        << "[smpp]\nlisten = \"127.0.0.1:0\"\n"
        << "[remsim_server]\nlisten = \"127.0.0.1:0\"\nrest_listen = \"127.0.0.1:0\"\n"
        << "[bankd]\nlisten = \"127.0.0.1:0\"\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  Output ctl(std::vector<std::string> words) {
    std::vector<std::string> argv{CELLCTL_PATH, "--config", config_};
    argv.insert(argv.end(), words.begin(), words.end());
    return run(argv);
  }
  bool wait_socket() {
    return cp::test::eventually([&] { return fs::exists(dir_ / "state" / "cellplane.ctl"); },
                                10000);
  }

  fs::path dir_;
  std::string config_;
};

std::string http_get(const cp::SocketAddress& addr, const std::string& path) {
  const int fd = cp::test::connect_to(addr);
  if (fd < 0) return "";
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  cp::test::write_all(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return resp;
}

TEST_F(DaemonTest, OperatorSession) {
  Daemon d(dir_, {"--config", config_});
  ASSERT_TRUE(wait_socket()) << d.log();

  const auto status = ctl({"--json", "status"});
  ASSERT_EQ(status.status, 0) << status.text;
  EXPECT_NE(status.text.find("\"cores\":2"), std::string::npos) << status.text;
#ifndef CP_SANITIZE  // the sanitizer build keeps ASan's allocator
  EXPECT_NE(status.text.find("\"allocator\":\"mimalloc"), std::string::npos) << status.text;
#endif
  std::smatch m;
  ASSERT_TRUE(std::regex_search(status.text, m, std::regex("\"metrics\":\"([0-9.:]+)\"")))
      << status.text;
  auto metrics_addr = cp::SocketAddress::parse(m[1].str());
  ASSERT_TRUE(metrics_addr);

  const auto stats = ctl({"stats"});
  ASSERT_EQ(stats.status, 0) << stats.text;
  EXPECT_NE(stats.text.find("LOOP ITERATIONS"), std::string::npos) << stats.text;
  EXPECT_NE(stats.text.find("total"), std::string::npos) << stats.text;

  // The message store: one shard per core, recovered at start, shown per shard.
  const auto store = ctl({"--json", "store"});
  ASSERT_EQ(store.status, 0) << store.text;
  EXPECT_NE(store.text.find("\"shard\":0"), std::string::npos) << store.text;
  EXPECT_NE(store.text.find("\"shard\":1"), std::string::npos) << store.text;
  EXPECT_NE(store.text.find("\"historical_mb\":0"), std::string::npos) << store.text;
  EXPECT_TRUE(fs::exists(dir_ / "state" / "pms" / "shard-1" / "pms.bin"));
  EXPECT_NE(d.log().find("store shard 1"), std::string::npos) << d.log();
  const auto store_table = ctl({"store"});
  ASSERT_EQ(store_table.status, 0) << store_table.text;
  EXPECT_NE(store_table.text.find("HISTORICAL_MB"), std::string::npos) << store_table.text;

  const auto config = ctl({"config", "show"});
  ASSERT_EQ(config.status, 0);
  EXPECT_NE(config.text.find("[engine]"), std::string::npos);
  EXPECT_NE(config.text.find("cores = 2"), std::string::npos) << config.text;

  EXPECT_EQ(ctl({"log-level", "level=debug"}).status, 0);
  // Wire trace: every payload of every connection, escaped like the modem seed's trace.
  EXPECT_EQ(ctl({"wire-trace", "on=true"}).status, 0);
  EXPECT_EQ(ctl({"status"}).status, 0);
  EXPECT_EQ(ctl({"wire-trace", "on=false"}).status, 0);
  EXPECT_TRUE(
      std::regex_search(d.log(), std::regex(R"(c[0-9]+ R ->\\x00\\x00\\x00.*"cmd":"status")")))
      << d.log();
  const auto bad_level = ctl({"log-level", "level=loud"});
  EXPECT_NE(bad_level.status, 0);
  EXPECT_NE(bad_level.text.find("unknown log level"), std::string::npos) << bad_level.text;
  const auto unknown = ctl({"frobnicate"});
  EXPECT_NE(unknown.status, 0);

  const std::string metrics = http_get(*metrics_addr, "/metrics");
  EXPECT_NE(metrics.find("200"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("cellplane_loop_iterations{core=\"1\"}"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("cellplane_cross_core_backlog{core=\"0\"}"), std::string::npos);
  EXPECT_NE(metrics.find("cellplane_store_records{shard=\"1\"} 0"), std::string::npos) << metrics;
  EXPECT_NE(http_get(*metrics_addr, "/nope").find("404"), std::string::npos);
  EXPECT_NE(metrics.find("cellplane_smsc_submits_total 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("cellplane_smsc_active{core=\"1\"}"), std::string::npos) << metrics;

  EXPECT_EQ(fs::status(dir_ / "state" / "cellplane.ctl").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(d.terminate(), 0) << d.log();
  EXPECT_FALSE(fs::exists(dir_ / "state" / "cellplane.ctl"));
  EXPECT_NE(d.log().find("stopped cleanly"), std::string::npos) << d.log();

  const auto down = ctl({"status"});
  EXPECT_EQ(down.status, 2);
  EXPECT_NE(down.text.find("not running"), std::string::npos) << down.text;
}

// The README's SMSC demo: the default configuration runs the SMSC core with an example number
// database; smsc-submit stores and routes a message, smsc-dump shows it, cellctl finds and
// cancels it, and a bad number database is refused on reload with the old one kept.
TEST_F(DaemonTest, SmscOutOfTheBox) {
  Daemon d(dir_, {"--config", config_});
  ASSERT_TRUE(wait_socket()) << d.log();
  ASSERT_TRUE(
      cp::test::eventually([&] { return fs::exists(dir_ / "state" / "smsc.sock"); }, 10000));
  EXPECT_TRUE(fs::exists(dir_ / "state" / "numbers.txt"));
  const std::string body = (dir_ / "body.txt").string();
  std::ofstream(body) << "hello from the shell\n";
  const auto sent = run({"/bin/sh", "-c",
                         std::string(SMSC_SUBMIT_PATH) + " --config " + config_ +
                             " --text 2125550100 2125550101 < " + body});
  ASSERT_EQ(sent.status, 0) << sent.text << d.log();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(sent.text, m, std::regex("id=([0-9]+)"))) << sent.text;
  const std::string id = m[1].str();
  const auto refused = run({"/bin/sh", "-c",
                            std::string(SMSC_SUBMIT_PATH) + " --config " + config_ +
                                " --text 2125550101 4155550100 < " + body});
  EXPECT_EQ(refused.status, 1) << refused.text;
  EXPECT_NE(refused.text.find("no_upstream_permission"), std::string::npos) << refused.text;

  const auto dump =
      run({SMSC_DUMP_PATH, "--store", (dir_ / "state" / "pms").string(), "--show-content"});
  ASSERT_EQ(dump.status, 0) << dump.text;
  EXPECT_NE(dump.text.find("hello from the shell"), std::string::npos) << dump.text;
  EXPECT_NE(dump.text.find("class=gsm"), std::string::npos) << dump.text;

  const auto show = ctl({"--json", "smsc", "show", "id=" + id});
  ASSERT_EQ(show.status, 0) << show.text;
  EXPECT_NE(show.text.find("\"where\":\"imsi-lookup\""), std::string::npos) << show.text;
  const auto smsc = ctl({"--json", "smsc"});
  ASSERT_EQ(smsc.status, 0) << smsc.text;
  EXPECT_NE(smsc.text.find("\"submits\":1"), std::string::npos) << smsc.text;
  EXPECT_EQ(ctl({"smsc", "cancel", "id=" + id}).status, 0);
  const auto again = ctl({"smsc", "cancel", "id=" + id});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.text.find("not_found"), std::string::npos) << again.text;

  // Peer indices are kept in the store: a reordered peers file renames nothing.
  std::ifstream index_file(dir_ / "state" / "pms" / "peer-index");
  std::string first_peer;
  std::getline(index_file, first_peer);
  EXPECT_EQ(first_peer, "demo");
  std::ofstream(dir_ / "state" / "peers.txt") << "313555* newpeer\n212666* demo\n";
  EXPECT_EQ(ctl({"numdb", "reload"}).status, 0);
  std::ifstream again_index(dir_ / "state" / "pms" / "peer-index");
  std::string l1, l2;
  std::getline(again_index, l1);
  std::getline(again_index, l2);
  EXPECT_EQ(l1 + "," + l2, "demo,newpeer");
  // SIGHUP reloads what `cellctl ... reload` reloads (systemd's ExecReload sends it).
  std::ofstream(dir_ / "state" / "peers.txt") << "313555* newpeer\n212666* demo\n414555* hup\n";
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  EXPECT_TRUE(cp::test::eventually([&] {
    return d.log().find("SIGHUP: numdb.reload done") != std::string::npos &&
           d.log().find("SIGHUP: smpp.reload done") != std::string::npos;
  })) << d.log();
  std::ifstream hup_index(dir_ / "state" / "pms" / "peer-index");
  std::stringstream hup_names;
  hup_names << hup_index.rdbuf();
  EXPECT_EQ(hup_names.str(), "demo\nnewpeer\nhup\n");

  std::ofstream(dir_ / "state" / "numbers.txt", std::ios::app) << "9115550100 gsm\n";
  const auto reload = ctl({"numdb", "reload"});
  EXPECT_EQ(reload.status, 1);
  EXPECT_NE(reload.text.find("numbers.txt:"), std::string::npos) << reload.text;
  EXPECT_NE(reload.text.find("old database stays"), std::string::npos) << reload.text;
  EXPECT_EQ(d.terminate(), 0) << d.log();
}

// The README's SMPP demo with real SMPP software: the default configuration runs the SMPP
// server with the example account demo/demo; the npm `smpp` client binds, submits to one of
// demo's own numbers with a receipt requested, gets the message back as deliver_sm, then the
// receipt naming the id it was given, and unbinds. cellctl shows the counters.
TEST_F(DaemonTest, SmppOutOfTheBoxWithNpmSmpp) {
  const fs::path peers = SMPP_PEERS_DIR;
  ASSERT_TRUE(fs::exists(peers / "node_modules" / "smpp"))
      << "npm smpp is not installed in " << peers << ": scripts/dev.sh test installs it (npm ci)";
  Daemon d(dir_, {"--config", config_});
  ASSERT_TRUE(wait_socket()) << d.log();
  EXPECT_TRUE(fs::exists(dir_ / "state" / "smpp-accounts.txt"));
  // The notice for each example file names the command that rereads it.
  EXPECT_TRUE(std::regex_search(
      d.log(), std::regex(R"(smpp-accounts\.txt did not exist; .*`cellctl smpp reload`)")))
      << d.log();
  EXPECT_TRUE(std::regex_search(
      d.log(), std::regex(R"(numbers\.txt did not exist; .*`cellctl numdb reload`)")))
      << d.log();
  std::string port;
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        const auto s = ctl({"--json", "smpp"});
        std::smatch m;
        if (!std::regex_search(s.text, m, std::regex("\"listen\":\"127\\.0\\.0\\.1:([0-9]+)\"")))
          return false;
        port = m[1].str();
        return port != "0";
      },
      10000))
      << d.log();
  // The SMPP server's links to the core come up within a second or two of the start.
  Output esme;
  for (int attempt = 0; attempt < 20; ++attempt) {
    esme = run({"node", (peers / "esme.js").string(), "127.0.0.1", port, "demo", "demo",
                "12126660001", "12126660002"});
    if (esme.status == 0 || esme.text.find("submit status 88") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // ESME_RTHROTTLED: not up yet
  }
  ASSERT_EQ(esme.status, 0) << esme.text << d.log();
  EXPECT_NE(esme.text.find("\"mo_text\":\"hello from npm smpp"), std::string::npos) << esme.text;
  EXPECT_NE(esme.text.find("\"receipt_state\":2"), std::string::npos) << esme.text;
  EXPECT_NE(esme.text.find("stat:DELIVRD"), std::string::npos) << esme.text;
  const auto stats = ctl({"--json", "smpp"});
  EXPECT_NE(stats.text.find("\"submits\":1"), std::string::npos) << stats.text;
  EXPECT_NE(stats.text.find("\"receipts\":1"), std::string::npos) << stats.text;
  // A wrong password is refused (npm smpp reports the status).
  const auto wrong = run({"node", (peers / "esme.js").string(), "127.0.0.1", port, "demo", "wrong",
                          "12126660001", "12126660002"});
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.text.find("bind status 14"), std::string::npos) << wrong.text;  // invpaswd
}

// Remote SIM as the README shows it: the server and a bank daemon with simulated cards run on
// the default configuration (ports 0 here); a slotmap over REST (curl), APDUs through
// cp-remsim-shell, the state in cellctl and /metrics.
TEST_F(DaemonTest, RemsimOutOfTheBox) {
  Daemon d(dir_, {"--config", config_});
  ASSERT_TRUE(wait_socket()) << d.log();
  std::string rspro, rest, metrics;
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        const auto s = ctl({"--json", "remsim"});
        std::smatch m;
        if (!std::regex_search(s.text, m, std::regex("\"rspro\":\"([0-9.:]+)\""))) return false;
        rspro = m[1].str();
        if (!std::regex_search(s.text, m, std::regex("\"rest\":\"http://([0-9.:]+)\"")))
          return false;
        rest = m[1].str();
        return ctl({"--json", "remsim", "banks"}).text.find("\"bank\":1") != std::string::npos;
      },
      10000))
      << d.log();
  const auto made = run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                         "Content-Type: application/json", "-d",
                         R"({"bank":{"bankId":1,"slotNr":0},"client":{"clientId":23,"slotNr":0}})",
                         "http://" + rest + "/api/backend/v1/slotmaps"});
  EXPECT_EQ(made.text, "201") << made.text;
  EXPECT_TRUE(cp::test::eventually([&] {
    return ctl({"remsim", "slotmaps", "list"}).text.find("ACTIVE") != std::string::npos;
  }));
  const auto apdus = dir_ / "apdus.txt";
  std::ofstream(apdus) << "00a40004023f00\n00a4000c022fe2\n00b000000a\n";
  const auto shell =
      run({CP_REMSIM_SHELL_PATH, "--server", rspro, "-c", "23", "-s", "0"}, apdus.string());
  ASSERT_EQ(shell.status, 0) << shell.text << d.log();
  EXPECT_NE(shell.text.find("ATR: 3b9f96801fc78031a073be21136743200718000001a5"), std::string::npos)
      << shell.text;
  // EF.ICCID of simulated card 0 of bank 1: 89882110000100000001, swapped BCD.
  EXPECT_NE(shell.text.find("610d\n9000\n988812010010000000109000\n"), std::string::npos)
      << shell.text;
  const auto workers = ctl({"--json", "bankd"});
  EXPECT_NE(workers.text.find("\"tpdus\":3"), std::string::npos) << workers.text;
  EXPECT_NE(workers.text.find("\"server_link\":\"registered\""), std::string::npos);
  // Deleted with cellctl; the slotmaps file follows.
  const auto del = ctl({"remsim", "slotmaps", "delete", "bank=1:0"});
  EXPECT_EQ(del.status, 0) << del.text;
  EXPECT_TRUE(cp::test::eventually([&] {
    return ctl({"--json", "remsim", "slotmaps", "list"}).text == "[]\n";
  })) << ctl({"--json", "remsim", "slotmaps", "list"}).text;
  const auto status = ctl({"--json", "status"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(status.text, m, std::regex("\"metrics\":\"([0-9.:]+)\"")));
  const std::string page = http_get(*cp::SocketAddress::parse(m[1].str()), "/metrics");
  EXPECT_NE(page.find("cellplane_remsim_banks 1"), std::string::npos) << page;
  EXPECT_NE(page.find("cellplane_bankd_tpdus_total 3"), std::string::npos) << page;
  EXPECT_NE(page.find("cellplane_remsim_slotmaps{state=\"ACTIVE\"} 0"), std::string::npos);
}

// The uplink against an upstream SMSC made of npm `smpp`'s server: it binds as a transceiver;
// the upstream's MO deliver_sm is stored; a message to the outside world goes up as submit_sm
// with a receipt requested, and the upstream's receipt comes back as our status report.
TEST_F(DaemonTest, UplinkAgainstNpmSmppUpstream) {
  const fs::path peers = SMPP_PEERS_DIR;
  ASSERT_TRUE(fs::exists(peers / "node_modules" / "smpp"))
      << "npm smpp is not installed in " << peers << ": scripts/dev.sh test installs it (npm ci)";
  Child up({"node", (peers / "upstream.js").string(), "up", "uppw", "14155550100", "12125550150",
            "hello from upstream"});
  const std::string port = json_number(up.wait_line("\"port\""), "port");
  ASSERT_FALSE(port.empty()) << up.seen();
  std::ofstream(config_, std::ios::app)
      << "[uplink]\nenabled = true\nserver = \"127.0.0.1:" << port
      << "\"\nsystem_id = \"up\"\npassword = \"uppw\"\nreconnect_min_ms = 100\n";
  Daemon d(dir_, {"--config", config_});
  ASSERT_TRUE(wait_socket()) << d.log();
  ASSERT_NE(up.wait_line("\"bound\""), "") << up.seen() << d.log();
  const std::string mo = up.wait_line("mo_answered");
  EXPECT_EQ(json_number(mo, "status"), "0") << up.seen() << d.log();
  const auto dump =
      run({SMSC_DUMP_PATH, "--store", (dir_ / "state" / "pms").string(), "--show-content"});
  EXPECT_NE(dump.text.find("hello from upstream"), std::string::npos) << dump.text;

  const std::string body = (dir_ / "body.txt").string();
  std::ofstream(body) << "to the outside world\n";
  const auto sent = run({"/bin/sh", "-c",
                         std::string(SMSC_SUBMIT_PATH) + " --config " + config_ +
                             " --text --srr 2125550100 4155550123 < " + body});
  ASSERT_EQ(sent.status, 0) << sent.text << d.log();
  const std::string submit = up.wait_line("\"submit_sm\"");
  EXPECT_NE(submit.find("\"text\":\"to the outside world\""), std::string::npos) << up.seen();
  EXPECT_NE(submit.find("\"registered_delivery\":1"), std::string::npos) << submit;
  EXPECT_EQ(json_number(up.wait_line("receipt_answered"), "status"), "0") << up.seen() << d.log();
  const auto uplink = ctl({"--json", "uplink"});
  EXPECT_NE(uplink.text.find("\"state\":\"bound\""), std::string::npos) << uplink.text;
  EXPECT_NE(uplink.text.find("\"receipts\":1"), std::string::npos) << uplink.text;
  EXPECT_NE(uplink.text.find("\"submits\":1"), std::string::npos) << uplink.text;
  // The report went into the store for the originator (a GSM number: it waits for the GSM
  // side), marked as a status report.
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        return run({SMSC_DUMP_PATH, "--store", (dir_ / "state" / "pms").string()})
                   .text.find("status-report") != std::string::npos;
      },
      5000));
}

// A two-level hierarchy of two cellplaned instances: the downstream one's uplink binds to the
// upstream one's SMPP server as its peer `down`. A message crosses up with a receipt coming
// back down as a status report, and another crosses down.
TEST_F(DaemonTest, TwoLevelHierarchy) {
  const fs::path top = dir_ / "top";
  const fs::path bottom = dir_ / "bottom";
  fs::create_directories(top / "state");
  fs::create_directories(bottom / "state");
  // The upstream instance: 313555xxxx belongs to its downstream peer `down`.
  std::ofstream(top / "state" / "numbers.txt") << "2125550100 local smsprov\n";
  std::ofstream(top / "state" / "peers.txt") << "313555* down\n";
  std::ofstream(top / "state" / "smpp-accounts.txt")
      << "down system_id=down password=downpw allow=127.0.0.1\n";
  const std::string top_config = (top / "cellplane.toml").string();
  std::ofstream(top_config) << "state_dir = \"" << (top / "state").string() << "\"\n"
                            << "[engine]\ncores = 2\n[metrics]\nenabled = false\n"
                            << "[smpp]\nlisten = \"127.0.0.1:0\"\n"
                            << "[remsim_server]\nenabled = false\n[bankd]\nenabled = false\n";
  Daemon upper(top, {"--config", top_config});
  auto ctl_at = [](const std::string& config, std::vector<std::string> words) {
    std::vector<std::string> argv{CELLCTL_PATH, "--config", config};
    argv.insert(argv.end(), words.begin(), words.end());
    return run(argv);
  };
  std::string port;
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        std::smatch m;
        const auto s = ctl_at(top_config, {"--json", "smpp"});
        if (!std::regex_search(s.text, m, std::regex(":([0-9]+)\""))) return false;
        port = m[1].str();
        return port != "0";
      },
      10000))
      << upper.log();
  // The downstream instance: its own number, provisioned for outside SMS; its uplink is `down`.
  std::ofstream(bottom / "state" / "numbers.txt") << "3135550100 local smsprov\n";
  std::ofstream(bottom / "state" / "peers.txt") << "";
  const std::string bottom_config = (bottom / "cellplane.toml").string();
  std::ofstream(bottom_config) << "state_dir = \"" << (bottom / "state").string() << "\"\n"
                               << "[engine]\ncores = 2\n[metrics]\nenabled = false\n"
                               << "[smpp]\nenabled = false\n"
                               << "[remsim_server]\nenabled = false\n[bankd]\nenabled = false\n"
                               << "[uplink]\nenabled = true\nserver = \"127.0.0.1:" << port
                               << "\"\nsystem_id = \"down\"\npassword = \"downpw\"\n"
                               << "reconnect_min_ms = 100\n";
  Daemon lower(bottom, {"--config", bottom_config});
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        return ctl_at(bottom_config, {"--json", "uplink"}).text.find("\"state\":\"bound\"") !=
               std::string::npos;
      },
      10000))
      << lower.log() << upper.log();

  // Up: from the downstream's number to the upstream's local number, with a receipt.
  const std::string body = (dir_ / "body.txt").string();
  std::ofstream(body) << "going up\n";
  const auto up = run({"/bin/sh", "-c",
                       std::string(SMSC_SUBMIT_PATH) + " --config " + bottom_config +
                           " --text --srr 3135550100 2125550100 < " + body});
  ASSERT_EQ(up.status, 0) << up.text << lower.log();
  auto dump = [](const fs::path& state) {
    return run({SMSC_DUMP_PATH, "--store", (state / "pms").string(), "--show-content"}).text;
  };
  EXPECT_TRUE(cp::test::eventually(
      [&] { return dump(top / "state").find("going up") != std::string::npos; }, 10000))
      << upper.log();
  // The upstream delivered it (stored) and reported back over SMPP; the downstream entered the
  // report for its originator.
  EXPECT_TRUE(cp::test::eventually(
      [&] { return dump(bottom / "state").find("status-report") != std::string::npos; }, 10000))
      << lower.log() << upper.log();
  EXPECT_NE(ctl_at(bottom_config, {"--json", "uplink"}).text.find("\"receipts\":1"),
            std::string::npos);

  // Down: from the upstream's number to the downstream's, routed to peer `down`.
  std::ofstream(body) << "coming down\n";
  const auto down = run({"/bin/sh", "-c",
                         std::string(SMSC_SUBMIT_PATH) + " --config " + top_config +
                             " --text 2125550100 3135550100 < " + body});
  ASSERT_EQ(down.status, 0) << down.text << upper.log();
  EXPECT_TRUE(cp::test::eventually(
      [&] { return dump(bottom / "state").find("coming down") != std::string::npos; }, 10000))
      << lower.log() << upper.log();
}

// Kannel (bearerbox + smsbox, Debian's) as a real ESME on our SMPP server: it binds as a
// transceiver; a message sent through its sendsms HTTP interface to one of its own numbers
// comes back to it as MO (smsbox fetches its get-url), its delivery receipt reaches its
// dlr-url, a message from our side reaches it too, and it unbinds when shut down.
TEST_F(DaemonTest, KannelAsAnEsme) {
  ASSERT_TRUE(fs::exists("/usr/sbin/bearerbox") && fs::exists("/usr/sbin/smsbox"))
      << "Kannel is not installed: scripts/deps.sh installs it (apt-get install kannel)";
  const fs::path peers = SMPP_PEERS_DIR;
  const fs::path kannel_dir = peers.parent_path() / "kannel";
  fs::create_directories(dir_ / "state");
  std::ofstream(dir_ / "state" / "numbers.txt") << "2125550150 local smsprov\n";
  std::ofstream(dir_ / "state" / "peers.txt") << "212777* kannel\n";
  std::ofstream(dir_ / "state" / "smpp-accounts.txt")
      << "kannel system_id=kannel password=kannelpw allow=127.0.0.1 window=10\n";
  const int smpp_port = free_port();
  std::ofstream(config_, std::ios::app);
  {
    // Our SMPP port must be known to Kannel's configuration: pick one.
    std::string cfg;
    {
      std::ifstream in(config_);
      std::stringstream ss;
      ss << in.rdbuf();
      cfg = ss.str();
    }
    cfg = std::regex_replace(cfg, std::regex("\\[smpp\\]\nlisten = \"127.0.0.1:0\""),
                             "[smpp]\nlisten = \"127.0.0.1:" + std::to_string(smpp_port) + "\"");
    std::ofstream(config_) << cfg;
  }
  Daemon d(dir_, {"--config", config_});
  ASSERT_TRUE(wait_socket()) << d.log();

  Child sink({"node", (kannel_dir / "http-sink.js").string()});
  const std::string sink_port = json_number(sink.wait_line("\"port\""), "port");
  ASSERT_FALSE(sink_port.empty());
  const int admin = free_port(), smsbox = free_port(), sendsms = free_port();
  std::string conf;
  {
    std::ifstream in(kannel_dir / "kannel.conf.in");
    std::stringstream ss;
    ss << in.rdbuf();
    conf = ss.str();
  }
  const fs::path kdir = dir_ / "kannel";
  fs::create_directories(kdir);
  for (auto [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"@ADMIN@", std::to_string(admin)},
                                                        {"@SMSBOX@", std::to_string(smsbox)},
                                                        {"@SENDSMS@", std::to_string(sendsms)},
                                                        {"@SMPP@", std::to_string(smpp_port)},
                                                        {"@SINK@", sink_port},
                                                        {"@DIR@", kdir.string()}})
    conf = std::regex_replace(conf, std::regex(k), v);
  const std::string conf_path = (kdir / "kannel.conf").string();
  std::ofstream(conf_path) << conf;
  Child bearerbox({"/usr/sbin/bearerbox", conf_path});
  auto kannel_log = [&] {
    std::ifstream a(kdir / "bearerbox.log"), b(kdir / "smsbox.log");
    std::stringstream ss;
    ss << a.rdbuf() << b.rdbuf();
    return ss.str();
  };
  // Kannel binds as a transceiver.
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        return ctl({"--json", "smpp"})
                   .text.find("\"system_id\":\"kannel\",\"peer\":\"kannel\",\"type\":\"trx\"") !=
               std::string::npos;
      },
      20000))
      << d.log() << kannel_log();
  // smsbox once bearerbox listens (it gives up at once otherwise).
  Child smsbox_proc({"/usr/sbin/smsbox", conf_path});
  // smsbox opens its sendsms port before it has loaded its users, and a request in between
  // crashes it (Kannel 1.4.5: PANIC in urltrans_find_username). It logs "Connected to bearerbox"
  // once they are loaded.
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        std::ifstream in(kdir / "smsbox.log");
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str().find("Connected to bearerbox") != std::string::npos;
      },
      20000))
      << kannel_log();
  // MT through Kannel's sendsms, to one of its own numbers, with a receipt asked for.
  auto http_get = [](int port, const std::string& path) {
    return run(
        {"/usr/bin/curl", "-s", "-m", "5", "http://127.0.0.1:" + std::to_string(port) + path});
  };
  std::string sent;
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        sent = http_get(sendsms,
                        "/cgi-bin/sendsms?username=tester&password=testpw&from=12127770001"
                        "&to=12127770002&text=hello+from+kannel&dlr-mask=1&dlr-url=" +
                            std::string("http%3A%2F%2F127.0.0.1%3A") + sink_port +
                            "%2Fdlr%3Ftype%3D%25d")
                   .text;
        return sent.find("Accepted") != std::string::npos || sent.find("Sent") != std::string::npos;
      },
      15000))
      << sent << kannel_log();
  const std::string mo = sink.wait_line("hello from kannel", 20000);
  EXPECT_NE(mo.find("/mo?from=+12127770001&to=+12127770002"), std::string::npos)
      << sink.seen() << kannel_log();
  const std::string dlr = sink.wait_line("/dlr?type=1", 20000);
  EXPECT_NE(dlr, "") << sink.seen() << kannel_log() << d.log();
  // From our side: a local number to Kannel's block.
  const std::string body = (dir_ / "body.txt").string();
  std::ofstream(body) << "hello from cellplane\n";
  const auto ours = run({"/bin/sh", "-c",
                         std::string(SMSC_SUBMIT_PATH) + " --config " + config_ +
                             " --text 2125550150 2127770003 < " + body});
  ASSERT_EQ(ours.status, 0) << ours.text;
  EXPECT_NE(sink.wait_line("hello from cellplane", 20000), "") << sink.seen() << kannel_log();
  const auto stats = ctl({"--json", "smpp"});
  EXPECT_NE(stats.text.find("\"receipts\":1"), std::string::npos) << stats.text;
  // Kannel ignores SIGTERM; its admin interface shuts it down, which unbinds.
  http_get(admin, "/shutdown?password=kpw");
  EXPECT_TRUE(cp::test::eventually(
      [&] { return d.log().find("kannel unbinds") != std::string::npos; }, 15000))
      << d.log() << kannel_log();
}

TEST_F(DaemonTest, ShutdownCommandAndEpollOverride) {
  Daemon d(dir_, {"--config", config_, "--io-backend", "epoll"});
  ASSERT_TRUE(wait_socket()) << d.log();
  const auto status = ctl({"status"});
  EXPECT_NE(status.text.find("epoll"), std::string::npos) << status.text;
  EXPECT_EQ(ctl({"shutdown"}).status, 0);
  EXPECT_TRUE(cp::test::eventually([&] {
    return d.log().find("stopped cleanly") != std::string::npos;
  })) << d.log();
}

// systemd's notify protocol, as Type=notify with WatchdogSec= uses it: READY=1 once serving,
// then WATCHDOG=1 pings while every reactor makes progress, STOPPING=1 on SIGTERM.
// A datagram socket bound at `path`, where the daemon's sd_notify messages arrive
// (NOTIFY_SOCKET); -1 on failure.
int notify_socket(const std::string& path) {
  const int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(sock);
    return -1;
  }
  return sock;
}

TEST_F(DaemonTest, NotifiesSystemdReadyWatchdogAndStopping) {
  const std::string notify_path = (dir_ / "notify.sock").string();
  const int sock = notify_socket(notify_path);
  ASSERT_GE(sock, 0);
  // 400 ms watchdog: the daemon pings every 200 ms.
  Daemon d(dir_, {"--config", config_}, {"NOTIFY_SOCKET=" + notify_path, "WATCHDOG_USEC=400000"});
  std::string seen;
  int watchdogs = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (watchdogs < 3 && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{sock, POLLIN, 0};
    if (::poll(&pfd, 1, 500) <= 0) continue;
    char buf[512];
    const ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    if (n <= 0) continue;
    const std::string msg(buf, static_cast<size_t>(n));
    seen += msg + "|";
    if (msg.find("WATCHDOG=1") != std::string::npos) ++watchdogs;
  }
  EXPECT_NE(seen.find("READY=1"), std::string::npos) << seen;
  EXPECT_NE(seen.find("STATUS=2 reactor(s) on "), std::string::npos) << seen;
  EXPECT_GE(watchdogs, 3) << seen << d.log();
  EXPECT_EQ(d.terminate(), 0) << d.log();
  char buf[512];
  bool stopping = false;
  for (ssize_t n; (n = ::recv(sock, buf, sizeof buf, MSG_DONTWAIT)) > 0;) {
    stopping = stopping ||
               std::string(buf, static_cast<size_t>(n)).find("STOPPING=1") != std::string::npos;
  }
  EXPECT_TRUE(stopping);
  ::close(sock);
}

// SIGHUP's reload waits for the engine's blocking worker; held there (a slotmap save blocked
// on a FIFO), the daemon still pings the watchdog and would still stop on SIGTERM (issue 15: the
// main thread waited in the reload, so the pings stopped and systemd would kill it).
TEST_F(DaemonTest, ASlowReloadDoesNotStopTheWatchdog) {
  const std::string notify_path = (dir_ / "notify.sock").string();
  const int sock = notify_socket(notify_path);
  ASSERT_GE(sock, 0);
  Daemon d(dir_, {"--config", config_}, {"NOTIFY_SOCKET=" + notify_path, "WATCHDOG_USEC=400000"});
  ASSERT_TRUE(wait_socket()) << d.log();
  // The next slotmap save blocks in open() until someone reads its temporary file, a FIFO;
  // the worker is held, and every reload queued behind it.
  const std::string fifo = (dir_ / "state" / "remsim-slotmaps.txt.tmp").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  struct Unblock {  // whatever happens below, the save is let go before the daemon is stopped
    std::string path;
    std::thread reader;
    void release() {
      if (reader.joinable()) return;
      reader = std::thread([p = path] {
        const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
        char buf[4096];
        while (fd >= 0 && ::read(fd, buf, sizeof buf) > 0) {
        }
        if (fd >= 0) ::close(fd);
      });
    }
    ~Unblock() {
      release();
      reader.join();
    }
  } unblock{fifo, {}};
  std::thread add([&] { ctl({"remsim", "slotmaps", "add", "bank=1:0", "client=23:0"}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the save is blocked now
  for (char buf[512]; ::recv(sock, buf, sizeof buf, MSG_DONTWAIT) > 0;) {
  }
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  int watchdogs = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < until) {
    pollfd pfd{sock, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[512];
    const ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    if (n > 0 && std::string(buf, static_cast<size_t>(n)).find("WATCHDOG=1") != std::string::npos)
      ++watchdogs;
  }
  EXPECT_GE(watchdogs, 4) << "watchdog pings in 1.5 s of a reload held up" << d.log();
  unblock.release();
  add.join();
  EXPECT_EQ(d.terminate(), 0) << d.log();
  ::close(sock);
}

TEST_F(DaemonTest, CheckConfigNamesFileLineAndColumn) {
  const auto bad = (dir_ / "bad.toml").string();
  std::ofstream(bad) << "[engine]\ncores = 2\nio_backend = \"turbo\"\n";
  const auto out = run({CELLPLANED_PATH, "--check-config", bad});
  EXPECT_EQ(out.status, 1);
  EXPECT_NE(out.text.find("bad.toml:3:"), std::string::npos) << out.text;
  const auto huge = (dir_ / "huge.toml").string();
  std::ofstream(huge)
      << "[engine]\nmax_connections_per_core = 1048576\nrx_buffer_bytes = 1048576\n";
  const auto refused = run({CELLPLANED_PATH, "--config", huge});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.text.find("GiB of buffer address space"), std::string::npos) << refused.text;
  const auto good = run({CELLPLANED_PATH, "--check-config", config_});
  EXPECT_EQ(good.status, 0) << good.text;
  const auto help = run({CELLPLANED_PATH, "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.text.find("--io-backend"), std::string::npos);
}

// The receive buffer pools and the io_uring ring are sized from [engine] (issue 15: only the
// built-in defaults were ever used), and a store batch that could not fit the ring is refused
// at start with the reason, not an assert at the first large commit.
TEST_F(DaemonTest, EnginePoolsAreSizedFromTheConfiguration) {
  std::ofstream(config_) << "state_dir = \"" << (dir_ / "state").string() << "\"\n"
                         << "[engine]\ncores = 2\nrecv_buffers = 64\nrecv_buffer_bytes = 2048\n"
                         << "io_queue_depth = 512\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
                         << "[store]\nbatch_kib = 2044\n"
                         << "[smpp]\nlisten = \"127.0.0.1:0\"\n"
                         << "[remsim_server]\nlisten = \"127.0.0.1:0\"\nrest_listen = \"\"\n"
                         << "[bankd]\nlisten = \"127.0.0.1:0\"\n";
  {
    Daemon d(dir_, {"--config", config_});
    ASSERT_TRUE(wait_socket()) << d.log();
    const auto stats = ctl({"--json", "stats"});
    ASSERT_EQ(stats.status, 0) << stats.text;
    EXPECT_NE(stats.text.find("\"recv_buffers\":64"), std::string::npos) << stats.text;
    EXPECT_EQ(stats.text.find("\"recv_buffers\":1024"), std::string::npos) << stats.text;
    EXPECT_EQ(d.terminate(), 0) << d.log();
  }
  fs::remove_all(dir_ / "state");
  const auto small = (dir_ / "small-ring.toml").string();
  std::ofstream(small) << "state_dir = \"" << (dir_ / "state").string() << "\"\n"
                       << "[engine]\ncores = 1\nio_queue_depth = 64\n"
                       << "[metrics]\nenabled = false\n[smpp]\nenabled = false\n"
                       << "[remsim_server]\nenabled = false\n[bankd]\nenabled = false\n";
  const auto refused = run({CELLPLANED_PATH, "--config", small});
  EXPECT_EQ(refused.status, 1) << refused.text;
  EXPECT_NE(refused.text.find("[store] batch_kib = 4096 needs [engine] io_queue_depth of at least "
                              "1025"),
            std::string::npos)
      << refused.text;
}

// Every service's section is in the schema the daemon checks a file against (each is declared in
// services/<name>/config.h): the printed default holds them all and checks clean, and a bad
// value in any of them is caught with its position before anything starts.
TEST_F(DaemonTest, CheckConfigKnowsEveryServiceSection) {
  const auto printed = run({CELLPLANED_PATH, "--print-default-config"});
  ASSERT_EQ(printed.status, 0);
  for (const char* section : {"[engine]", "[control]", "[metrics]", "[log]", "[store]", "[smsc]",
                              "[smpp]", "[uplink]", "[remsim_server]", "[bankd]"}) {
    EXPECT_NE(printed.text.find(std::string("\n") + section + "\n"), std::string::npos) << section;
  }
  const auto defaults = (dir_ / "defaults.toml").string();
  std::ofstream(defaults) << printed.text;
  const auto ok = run({CELLPLANED_PATH, "--check-config", defaults});
  EXPECT_EQ(ok.status, 0) << ok.text;

  const auto bad = (dir_ / "bad-sections.toml").string();
  // One commit's writes and fdatasync must fit the io_uring ring (issue 15: 65,536 KiB of
  // scattered blocks tripped an assert in the backend).
  std::ofstream(bad) << "[store]\nbatch_kib = 65536\n[smpp]\nsystem_id = \"\"\n"
                        "[remsim_server]\nmax_conections = 5\n[bankd]\nbackend = \"usb\"\n"
                        "[uplnk]\nwindow = 1\n";
  const auto out = run({CELLPLANED_PATH, "--check-config", bad});
  EXPECT_EQ(out.status, 1);
  EXPECT_NE(out.text.find("bad-sections.toml:2:13: store.batch_kib = 65536 is out of range "
                          "(8..16380)"),
            std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find(":4:13: smpp.system_id = \"\" must be 1..15"), std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find(":6:1: unknown key 'remsim_server.max_conections' (did you mean "
                          "'max_connections'?)"),
            std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find(":8:11: bankd.backend = \"usb\" is not one of: sim, pcsc"),
            std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find(":9:2: unknown section [uplnk] (did you mean 'uplink'?)"),
            std::string::npos)
      << out.text;
}

// ---- silent connections on every listener (issue 15) ----

// Opens `n` connections to `addr` (TCP, or "unix:" path) without sending anything; the
// descriptors stay open until closed by the caller.
std::vector<int> open_silent(const cp::SocketAddress& addr, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    if (::connect(fd, addr.sa(), addr.length) != 0 && errno != EINPROGRESS && errno != EAGAIN) {
      ::close(fd);
      continue;
    }
    fds.push_back(fd);
  }
  return fds;
}

// The daemon's resident memory (KiB) and CPU time (clock ticks) from /proc.
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
long cpu_ticks(pid_t pid) {
  return cp::test::cpu_ticks_of("/proc/" + std::to_string(pid) + "/stat");
}
size_t count_lines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Sends `unit` over and over to `addr` for `seconds` without ever reading what comes back
// (receive buffer shrunk to the minimum). Returns the bytes the daemon took.
size_t flood_without_reading(const cp::SocketAddress& addr, const std::string& unit,
                             double seconds) {
  const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  if (::connect(fd, addr.sa(), addr.length) != 0) {
    ::close(fd);
    return 0;
  }
  std::string burst;
  while (burst.size() < 16384) burst += unit;
  size_t sent = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::send(fd, burst.data(), burst.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;  // closed by the daemon: fine too
    sent += static_cast<size_t>(n);
  }
  ::close(fd);
  return sent;
}

// Growth of the daemon's RSS these tests allow: under ASan freed memory sits in its quarantine
// (up to 256 MiB) and every allocation has shadow, so only a release build bounds it tightly.
#ifdef CP_SANITIZE
constexpr long kRssGrowthMaxKib = 256 * 1024;
#else
constexpr long kRssGrowthMaxKib = 64 * 1024;
#endif

// Connections that connect and never send — to SMPP, RSPRO (server and bank daemon), the REST
// API, /metrics and the control socket — are closed by each listener's timeout; meanwhile the
// daemon keeps serving (cellctl, a new SMPP bind), its memory and CPU stay flat, and the log gets
// a few lines, not one (or two) per connection.
TEST_F(DaemonTest, SilentConnectionsOnEveryListener) {
  constexpr int kPerListener = 1000;
  std::ofstream(config_) << "state_dir = \"" << (dir_ / "state").string() << "\"\n"
                         << "[engine]\ncores = 2\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
                         << "[control]\nfirst_request_timeout_ms = 1000\n"
                         << "[smpp]\nlisten = \"127.0.0.1:0\"\nbind_timeout_ms = 1000\n"
                         << "[remsim_server]\nlisten = \"127.0.0.1:0\"\n"
                         << "rest_listen = \"127.0.0.1:0\"\nid_timeout_ms = 1000\n"
                         << "[bankd]\nlisten = \"127.0.0.1:0\"\nid_timeout_ms = 1000\n";
  Daemon d(dir_, {"--config", config_});
  ASSERT_TRUE(wait_socket()) << d.log();
  // Every listener's address, once the bank has registered.
  std::string smpp, rspro, rest, metrics, bankd_port;
  ASSERT_TRUE(cp::test::eventually(
      [&] {
        std::smatch m;
        const auto status = ctl({"--json", "status"}).text;
        const auto remsim = ctl({"--json", "remsim"}).text;
        const auto smpp_status = ctl({"--json", "smpp"}).text;
        const auto bankd = ctl({"--json", "bankd"}).text;
        if (!std::regex_search(status, m, std::regex("\"metrics\":\"([0-9.:]+)\""))) return false;
        metrics = m[1].str();
        if (!std::regex_search(remsim, m, std::regex("\"rspro\":\"([0-9.:]+)\""))) return false;
        rspro = m[1].str();
        if (!std::regex_search(remsim, m, std::regex("\"rest\":\"http://([0-9.:]+)\"")))
          return false;
        rest = m[1].str();
        if (!std::regex_search(smpp_status, m, std::regex("\"listen\":\"([0-9.:]+)\"")))
          return false;
        smpp = m[1].str();
        bankd_port = json_number(bankd, "listen_port");
        return !bankd_port.empty() && bankd.find("\"registered\"") != std::string::npos;
      },
      10000))
      << d.log();
  const long rss_before = rss_kib(d.pid());
  const size_t log_before = d.log().size();
  std::vector<int> fds;
  for (const std::string& where : {smpp, rspro, rest, metrics, "127.0.0.1:" + bankd_port}) {
    auto some = open_silent(*cp::SocketAddress::parse(where), kPerListener);
    EXPECT_EQ(some.size(), static_cast<size_t>(kPerListener)) << where;
    fds.insert(fds.end(), some.begin(), some.end());
  }
  auto control = open_silent(
      *cp::SocketAddress::parse("unix:" + (dir_ / "state" / "cellplane.ctl").string()), 200);
  fds.insert(fds.end(), control.begin(), control.end());
  // Within the timeouts (1 s, swept once a second) the listeners shed them: cellctl gets in.
  EXPECT_TRUE(cp::test::eventually([&] { return ctl({"status"}).status == 0; }, 10000))
      << d.log().substr(log_before, 4000);
  // A new SMPP client is served meanwhile (npm smpp's client, as in SmppOutOfTheBoxWithNpmSmpp,
  // would do too; a bind is enough here).
  {
    const int fd = cp::test::connect_to(*cp::SocketAddress::parse(smpp));
    ASSERT_GE(fd, 0);
    // system_id "nobody": refused (no such account), but answered.
    cp::proto::smpp::Bind b;
    b.system_id = "nobody";
    b.password = "x";
    b.interface_version = 0x34;
    const auto bind = cp::proto::smpp::encode_bind(cp::proto::smpp::cmd::bind_transmitter, 1, b);
    cp::test::write_all(fd, bind.data(), bind.size());
    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 5000), 1) << "no bind response during the flood";
    ::close(fd);
  }
  // Quiet now: a second of the daemon's CPU is a few ticks, not a spinning core.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const long cpu_before = cpu_ticks(d.pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long cpu_used = cpu_ticks(d.pid()) - cpu_before;
  EXPECT_LT(cpu_used, 40) << "ticks in 2 s with only silent connections open";
  const long rss_after = rss_kib(d.pid());
  EXPECT_LT(rss_after - rss_before, kRssGrowthMaxKib) << rss_before << " KiB -> " << rss_after;
  for (int fd : fds) ::close(fd);
  // Clients that send as fast as they can and never read — enquire_link, IPA PING, pipelined
  // GETs, control requests — are not read either once their answers back up: memory stays put.
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  const std::string enquire_link = be32(16) + be32(0x15) + be32(0) + be32(7);
  const std::string ipa_ping("\x00\x01\xfe\x00", 4);
  const std::string get_metrics = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string ctl_help = be32(21) + R"({"id":1,"cmd":"help"})";
  const long rss_before_flood = rss_kib(d.pid());
  std::vector<std::pair<std::string, std::string>> floods = {
      {smpp, enquire_link},
      {rspro, ipa_ping},
      {"127.0.0.1:" + bankd_port, ipa_ping},
      {rest, "GET /api/backend/v1/banks HTTP/1.1\r\nHost: x\r\n\r\n"},
      {metrics, get_metrics},
      {"unix:" + (dir_ / "state" / "cellplane.ctl").string(), ctl_help}};
  std::vector<size_t> taken(floods.size());
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < floods.size(); ++i)
      threads.emplace_back([&, i] {
        taken[i] =
            flood_without_reading(*cp::SocketAddress::parse(floods[i].first), floods[i].second, 3);
      });
    for (auto& t : threads) t.join();
  }
  const long rss_after_flood = rss_kib(d.pid());
  EXPECT_LT(rss_after_flood - rss_before_flood, kRssGrowthMaxKib)
      << rss_before_flood << " KiB -> " << rss_after_flood;
  EXPECT_EQ(ctl({"status"}).status, 0) << d.log().substr(log_before, 4000);
  std::string took;
  for (size_t i = 0; i < floods.size(); ++i) {
    took += " " + floods[i].first + "=" + std::to_string(taken[i] / 1024) + "KiB";
    // What socket buffers hold, not gigabytes read and answered into the void.
    EXPECT_LT(taken[i], size_t{64} << 20) << floods[i].first << " kept reading a non-reader";
  }
  std::printf("non-reading floods, 3 s each: RSS %ld -> %ld KiB; taken:%s\n", rss_before_flood,
              rss_after_flood, took.c_str());
  // The log: a few lines per kind, not one per connection.
  const std::string log = d.log().substr(log_before);
  EXPECT_LE(count_lines(log, "no bind within"), 4u) << log.substr(0, 2000);
  EXPECT_LE(count_lines(log, "did not identify itself"), 8u) << log.substr(0, 2000);
  EXPECT_EQ(count_lines(log, "no IPA PONG"), 0u) << log.substr(0, 2000);
  EXPECT_LE(count_lines(log, "control connections open already"), 2u);
  EXPECT_LT(count_lines(log, "\n"), 200u) << log.substr(0, 4000);
  std::printf(
      "silent connections: %d per listener on 5 + 200 on the control socket; RSS %ld -> "
      "%ld KiB; %ld CPU ticks in 2 s after; %zu log lines\n",
      kPerListener, rss_before, rss_after, cpu_used, count_lines(log, "\n"));
  EXPECT_EQ(d.terminate(), 0) << d.log().substr(log_before, 4000);
}

}  // namespace
