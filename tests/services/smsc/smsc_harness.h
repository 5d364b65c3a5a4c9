// A real SMSC core for tests: an engine (1 or 2 reactors), the message store in a temporary
// directory with O_DIRECT files, the SMSC service on its SOCK_SEQPACKET socket, and helpers to
// build SUBMITs and talk to it with SmscClient like any other component would.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "services/smsc/client.h"
#include "services/smsc/core.h"
#include "services/smsc/numdb.h"
#include "services/smsc/wire.h"
#include "storage/store.h"
#include "tests/support/queued_sender.h"
#include "tests/support/temp_dir.h"

namespace cp::smsc::test {

using cp::test::QueuedSender;

inline constexpr std::string_view kNumbers =
    "2125550100 gsm smsprov\n"
    "2125550101 gsm\n"
    "2125550102 local\n"
    "2125550103 nosms\n"
    "5000 gsm\n";
inline constexpr std::string_view kPeers = "212666* acme\n212777* beta\n";

inline std::shared_ptr<const Numdb> test_numdb() {
  auto db = Numdb::parse(kNumbers, "numbers", kPeers, "peers");
  EXPECT_TRUE(db) << (db ? "" : db.error());
  return *db;
}

inline SmscOptions test_options(const std::string& dir) {
  SmscOptions o;
  o.socket_path = dir + "/smsc.sock";
  o.max_active_per_core = 4096;
  o.requests_in_flight_max = 1024;
  o.retry_delay = 200 * kNanosPerMilli;
  return o;
}

// Between the store and its reactor: passes file commits through, or holds them while held —
// so a test can see that nothing is answered before it is durable. Reactor thread, except
// hold() and release().
class CommitGate final : public engine::FileCommitter, public engine::Poller {
 public:
  explicit CommitGate(engine::Reactor& r) : reactor_(r) { r.add_poller(*this); }
  void hold() { held_ = true; }
  void release() {
    held_ = false;
    reactor_.notify();
  }
  uint64_t held_commits() const { return held_commits_.load(); }

  unsigned core() const override { return reactor_.core(); }
  void start_file_commit(int fd, std::span<const engine::FileWrite> writes,
                         engine::FileCommitHandler& handler) override {
    if (!held_ && queued_.empty()) {
      reactor_.start_file_commit(fd, writes, handler);
      return;
    }
    queued_.push_back({fd, {writes.begin(), writes.end()}, &handler});
    ++held_commits_;
  }
  void add_poller(engine::Poller& p) override { reactor_.add_poller(p); }
  bool poll() override {
    if (held_ || queued_.empty()) return false;
    for (const Queued& q : queued_) reactor_.start_file_commit(q.fd, q.writes, *q.handler);
    queued_.clear();
    return true;
  }
  bool has_work() const override { return !held_ && !queued_.empty(); }

 private:
  struct Queued {
    int fd;
    std::vector<engine::FileWrite> writes;  // their bytes stay put until the handler hears
    engine::FileCommitHandler* handler;
  };
  engine::Reactor& reactor_;
  std::atomic<bool> held_{false};
  std::atomic<uint64_t> held_commits_{0};
  std::vector<Queued> queued_;
};

class SmscHarness {
 public:
  // `extra`: more set-up on every reactor (after the store and the core's), e.g. a poller.
  SmscHarness(const std::string& dir, unsigned cores, SmscOptions options,
              std::function<void(engine::Reactor&)> extra = {})
      : dir_(dir) {
    storage::StoreOptions so;
    so.dir = dir + "/pms";
    so.cores = cores;
    so.shard.prealloc_bytes = 1 << 20;
    store_ = std::make_unique<storage::Store>(so);
    smsc_ = std::make_unique<SmscService>(std::move(options), *store_, test_numdb(), cores);
    engine::EngineConfig ec;
    ec.cores = cores;
    ec.pin_threads = false;
    ec.drain_timeout = 200 * kNanosPerMilli;  // connections still open at the end: not waited for
    engine_ = std::make_unique<engine::Engine>(ec);
    gates_.resize(cores);
    engine_->on_each_core([this, extra](engine::Reactor& r) -> Result<void, std::string> {
      gates_[r.core()] = std::make_unique<CommitGate>(r);
      if (auto ok = store_->open_on_core(*gates_[r.core()], SystemClock::instance()); !ok)
        return ok;
      if (auto ok = smsc_->start_on_core(r); !ok) return ok;
      if (extra) extra(r);
      return {};
    });
    auto ok = engine_->start();
    EXPECT_TRUE(ok) << (ok ? "" : ok.error());
    started_ = static_cast<bool>(ok);
  }
  ~SmscHarness() { stop(); }
  void stop() {
    if (!engine_) return;
    engine_->request_stop();
    engine_->join();
    engine_.reset();
    smsc_.reset();
    store_.reset();
  }
  bool started() const { return started_; }
  // Holds every core's store commits (nothing becomes durable) until release_commits().
  void hold_commits() {
    for (auto& g : gates_) g->hold();
  }
  void release_commits() {
    for (auto& g : gates_) g->release();
  }
  uint64_t held_commits() const {
    uint64_t n = 0;
    for (const auto& g : gates_) n += g->held_commits();
    return n;
  }
  SmscService& smsc() { return *smsc_; }
  storage::Store& store() { return *store_; }
  std::string socket() const { return smsc_->options().socket_path; }
  SmscClient client() {
    auto c = SmscClient::connect(socket());
    EXPECT_TRUE(c) << (c ? "" : c.error());
    return std::move(*c);
  }
  // Records ever written to the store (all shards).
  uint64_t records() const {
    uint64_t n = 0;
    for (const auto& v : store_->shards()) n += v.stats->log_records.load();
    return n;
  }

 private:
  std::string dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<SmscService> smsc_;
  std::unique_ptr<engine::Engine> engine_;
  std::vector<std::unique_ptr<CommitGate>> gates_;  // one per core, indexed by core
  bool started_ = false;
};

// A client of the core on the engine (a reactor connection: the simulation transport, or a
// role handler inside the daemon): sends what it is told, hands every message from the core to
// `on_message` (answers are sent from there). Reactor thread only.
class EngineClient final : public engine::ConnectionHandler {
 public:
  using Connection = engine::Connection;
  using CloseReason = engine::CloseReason;

  std::function<void(EngineClient&, const wire::Message&)> on_message;
  Connection* conn = nullptr;
  bool open = false;
  bool closed = false;

  void on_open(Connection& c) override {
    conn = &c;
    open = true;
    tx_.attach(&c);
  }
  size_t on_data(Connection&, std::span<const std::byte> data) override {
    size_t used = 0;
    while (data.size() - used >= wire::kHeaderBytes) {
      const auto h = wire::peek_header(data.subspan(used));
      if (h->length < wire::kHeaderBytes || h->length > wire::kMessageMax) {
        ADD_FAILURE() << "bad length from the core";
        return data.size();
      }
      if (data.size() - used < h->length) break;
      wire::Message m;
      EXPECT_EQ(wire::decode(data.subspan(used, h->length), m), wire::Status::ok);
      used += h->length;
      if (on_message) on_message(*this, m);
    }
    return used;
  }
  void on_writable(Connection&) override { tx_.flush(); }
  void on_close(Connection&, CloseReason, int) override {
    closed = true;
    conn = nullptr;
    tx_.attach(nullptr);
  }
  // Queues a message; sent as soon as the connection takes it.
  void send(std::span<const std::byte> bytes) { tx_.send(bytes); }

 private:
  QueuedSender tx_;
};

// A reactor of the simulation transport (engine/sim) for the core or its clients.
inline engine::ReactorConfig sim_reactor_config() {
  engine::ReactorConfig c;
  c.max_connections = 16;
  c.rx_buffer_bytes = 8192;
  c.tx_buffer_bytes = 65536;
  c.service_timers_max = 64;
  return c;
}

inline wire::Submit make_submit(std::string_view src, std::string_view dst, std::string_view text,
                                uint16_t mr = 1, uint8_t src_ton = 0, uint8_t dst_ton = 0) {
  wire::Submit s;
  storage::SmRecord& r = s.record;
  EXPECT_TRUE(storage::set_digits(r.src, src, src_ton, 1));
  EXPECT_TRUE(storage::set_digits(r.dst_written, dst, dst_ton, 1));
  r.src_class = static_cast<uint8_t>(storage::SmeClass::local);
  r.message_ref = mr;
  r.dcs = 0x04;  // 8-bit: the text as octets, simple to check
  r.ud_length = static_cast<uint8_t>(text.size());
  std::memcpy(r.user_data, text.data(), text.size());
  return s;
}

// Sends one request and returns the response (fails the test on a transport error).
inline wire::Message call(SmscClient& c, std::span<const std::byte> req, uint64_t id,
                          int timeout_ms = 10000) {
  auto m = c.call(req, id, timeout_ms);
  EXPECT_TRUE(m) << (m ? "" : m.error());
  return m ? *m : wire::Message{};
}

inline wire::Message submit(SmscClient& c, const wire::Submit& s, uint64_t id) {
  std::byte buf[wire::kMessageMax];
  return call(c, {buf, wire::encode_submit(buf, id, s)}, id);
}

inline wire::Status register_role(SmscClient& c, wire::Role role, std::string peer, bool up,
                                  uint64_t id) {
  std::byte buf[wire::kMessageMax];
  wire::Register reg{role, std::move(peer)};
  auto m = call(c, {buf, wire::encode_register(buf, id, reg)}, id);
  if (m.header.status != wire::Status::ok || !up) return m.header.status;
  auto s = call(c, {buf, wire::encode_service_state(buf, id + 1, true)}, id + 1);
  return s.header.status;
}

// The name of a test run with 1 or 2 reactors (INSTANTIATE_TEST_SUITE_P).
inline std::string cores_name(const ::testing::TestParamInfo<unsigned>& p) {
  return std::to_string(p.param) + "cores";
}

// Waits until `pred` holds (polling), up to `seconds`.
template <typename Pred>
bool eventually(Pred pred, double seconds = 10) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace cp::smsc::test
