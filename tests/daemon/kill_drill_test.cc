// The kill -9 drill (issue 15), in the tree: SMPP load into the daemon, SIGKILL in the middle of
// it, restart on the same state directory, again, for a number of rounds; then every message id
// the daemon acknowledged with ESME_ROK must be in the store, exactly once (smsc-dump reads the
// shards after the last round). The kernel keeps what was written across a SIGKILL, so this
// proves the order of things — no answer before the record is written, nothing acknowledged
// rolled back by recovery — not power-loss durability, which the simulated disk's crash sweep
// covers. CP_DRILL_ROUNDS sets the rounds (CI: 3).
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proto/smpp/pdu.h"
#include "tests/support/process.h"
#include "tests/support/reactor_harness.h"

namespace {

namespace fs = std::filesystem;
namespace pdu = cp::proto::smpp;

// A minimal non-blocking-safe SMPP client: sends a window of submit_sm, reads the answers, and
// stops quietly at the first error (the daemon is killed under it).
class DrillClient {
 public:
  explicit DrillClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    int one = 1;
    if (ok_) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~DrillClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  DrillClient(const DrillClient&) = delete;
  DrillClient& operator=(const DrillClient&) = delete;

  bool ok() const { return ok_; }

  uint32_t bind() {
    pdu::Bind b;
    b.system_id = "demo";
    b.password = "demo";
    send(pdu::encode_bind(pdu::cmd::bind_transceiver, ++seq_, b));
    while (ok_) {
      auto p = read();
      if (p && p->first.command_id == (pdu::cmd::bind_transceiver | pdu::cmd::response_bit))
        return p->first.command_status;
    }
    return 0xFFFFFFFF;
  }

  // Sends `window` submits, then reads as many answers; the ids answered ESME_ROK are added to
  // `acked`. Returns the number of throttled answers (the core links not up yet).
  int submit_window(int window, const pdu::ShortMessage& m, std::vector<uint64_t>& acked) {
    for (int i = 0; i < window && ok_; ++i)
      send(pdu::encode_short_message(pdu::cmd::submit_sm, ++seq_, m));
    int throttled = 0;
    for (int answered = 0; answered < window && ok_;) {
      auto p = read();
      if (!p) break;
      if (p->first.command_id != (pdu::cmd::submit_sm | pdu::cmd::response_bit)) continue;
      ++answered;
      if (p->first.command_status == pdu::status::throttled) ++throttled;
      if (p->first.command_status != pdu::status::ok) continue;
      auto id = pdu::decode_message_id_resp(std::span(p->second).subspan(pdu::kHeaderBytes));
      if (id) acked.push_back(std::stoull(std::string(*id), nullptr, 16));
    }
    return throttled;
  }

 private:
  void send(const std::vector<std::byte>& bytes) {
    size_t at = 0;
    while (ok_ && at < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0)
        ok_ = false;
      else
        at += static_cast<size_t>(n);
    }
  }
  std::optional<std::pair<pdu::Header, std::vector<std::byte>>> read() {
    while (ok_) {
      if (in_.size() >= 4) {
        auto len = pdu::frame_length(in_);
        if (!len) {
          ok_ = false;
          break;
        }
        if (*len && in_.size() >= **len) {
          std::vector<std::byte> one(in_.begin(), in_.begin() + static_cast<long>(**len));
          in_.erase(in_.begin(), in_.begin() + static_cast<long>(**len));
          auto h = pdu::decode_header(one);
          if (!h) continue;
          return std::make_pair(*h, std::move(one));
        }
      }
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 10000) <= 0) {
        ok_ = false;
        break;
      }
      std::byte buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        ok_ = false;
        break;
      }
      in_.insert(in_.end(), buf, buf + n);
    }
    return std::nullopt;
  }

  int fd_ = -1;
  bool ok_ = false;
  uint32_t seq_ = 0;
  std::vector<std::byte> in_;
};

TEST(KillDrill, EveryAcknowledgedSubmitSurvivesKill9) {
  const char* env = std::getenv("CP_DRILL_ROUNDS");
  const int rounds = env ? std::max(1, std::atoi(env)) : 3;
  const fs::path dir =
      fs::temp_directory_path() / ("cellplane-drill-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const uint16_t port = cp::test::free_port();
  const std::string config = (dir / "cellplane.toml").string();
  std::ofstream(config) << "state_dir = \"" << (dir / "state").string() << "\"\n"
                        << "[engine]\ncores = 2\n[metrics]\nenabled = false\n"
                        << "[smpp]\nlisten = \"127.0.0.1:" << port << "\"\n"
                        << "[remsim_server]\nenabled = false\n[bankd]\nenabled = false\n";
  // demo (the example account) submits from one of its own numbers to a local one: each
  // message is one record, stored as delivered.
  pdu::ShortMessage m;
  m.source_addr_ton = 1;
  m.source_addr_npi = 1;
  m.source_addr = "12126660001";
  m.dest_addr_ton = 1;
  m.dest_addr_npi = 1;
  m.destination_addr = "12125550150";
  const std::string text = "kill -9 drill";
  m.short_message = std::as_bytes(std::span(text));

  std::vector<uint64_t> acked;
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  for (int round = 0; round < rounds; ++round) {
    cp::test::Process d({CELLPLANED_PATH, "--config", config}, dir / "daemon.log");
    std::unique_ptr<DrillClient> c;
    // Up: the port accepts, the bind is answered, and submits are no longer throttled.
    ASSERT_TRUE(cp::test::eventually(
        [&] {
          c = std::make_unique<DrillClient>(port);
          if (!c->ok() || c->bind() != pdu::status::ok) return false;
          std::vector<uint64_t> first;
          if (c->submit_window(1, m, first) != 0) return false;
          acked.insert(acked.end(), first.begin(), first.end());
          return !first.empty();
        },
        15000))
        << "round " << round << ": the daemon did not come up\n"
        << d.log();
    const int kill_after_ms = std::uniform_int_distribution<int>(150, 600)(rng);
    std::thread killer([&d, kill_after_ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
      d.kill();  // SIGKILL, then reaped
    });
    while (c->ok()) c->submit_window(64, m, acked);
    killer.join();
  }
  ASSERT_FALSE(acked.empty());

  // Every record the shards hold, by id (smsc-dump reads the files; the daemon is down).
  const auto dump = cp::test::run(
      {SMSC_DUMP_PATH, "--store", (dir / "state" / "pms").string(), "--format", "json"});
  ASSERT_EQ(dump.status, 0) << dump.text;
  std::map<uint64_t, int> stored;
  const std::regex id_re("^\\{\"id\":([0-9]+),");
  std::istringstream lines(dump.text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_search(line, match, id_re)) ++stored[std::stoull(match[1].str())];
  }
  size_t missing = 0;
  size_t twice = 0;
  for (const uint64_t id : acked) {
    const auto it = stored.find(id);
    if (it == stored.end())
      ++missing;
    else if (it->second != 1)
      ++twice;
  }
  std::printf(
      "kill -9 drill: %d rounds, %zu acknowledged, %zu records, %zu missing, %zu stored "
      "more than once\n",
      rounds, acked.size(), stored.size(), missing, twice);
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(twice, 0u);
  fs::remove_all(dir);
}

}  // namespace
