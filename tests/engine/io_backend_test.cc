// The I/O backends driven directly (no reactor), on io_uring and on epoll: what close() must do
// to a socket the backend received and sent on. io_uring keeps such sockets in its fixed-file
// table, which holds its own reference to the file: were close() to leave the slot behind, the
// socket would stay open — the peer would never see the end of the connection — and a later
// socket given the same descriptor number would be served through the stale slot.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>

#include "base/byte_reader.h"
#include "tests/support/reactor_harness.h"

namespace cp::engine {
namespace {

using test::connect_to;
using test::loopback;
using test::read_exact;
using test::wait_closed;
using test::write_all;

class IoBackendTest : public test::BackendTest {
 protected:
  void SetUp() override {
    test::BackendTest::SetUp();
    if (IsSkipped()) return;
    auto b = make_backend(GetParam(), {});
    ASSERT_TRUE(b) << b.error();
    backend_ = std::move(*b);
    auto l = backend_->listen(loopback(), {});
    ASSERT_TRUE(l);
    listener_ = *l;
    auto a = backend_->local_address(listener_);
    ASSERT_TRUE(a);
    address_ = *a;
    backend_->start_accept(listener_, &accept_owner_);
  }
  void TearDown() override {
    if (listener_ != kInvalidHandle) backend_->close(listener_);
  }

  // Waits (up to ~5 s) for the next completion of `op` for `owner`; other completions are
  // dropped (their receive buffers given back).
  IoCompletion next(IoOp op, void* owner) {
    for (int turn = 0; turn < 500; ++turn) {
      std::array<IoCompletion, 16> out;
      const size_t n = backend_->wait(out, 10 * kNanosPerMilli);
      IoCompletion found{};
      bool have = false;
      for (size_t i = 0; i < n; ++i) {
        if (!have && out[i].op == op && out[i].owner == owner) {
          found = out[i];
          have = true;
          continue;
        }
        if (out[i].op == IoOp::recv && out[i].result > 0)
          backend_->recycle_buffer(out[i].buffer_id);
      }
      if (have) return found;
    }
    ADD_FAILURE() << "no completion";
    return IoCompletion{IoOp::send, false, 0, -ETIMEDOUT, nullptr, nullptr};
  }

  std::unique_ptr<IoBackend> backend_;
  IoHandle listener_ = kInvalidHandle;
  SocketAddress address_;
  alignas(8) char accept_owner_ = 0;
  alignas(8) char conn_owner_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Backends, IoBackendTest, ::testing::ValuesIn(test::available_backends()),
                         test::BackendName());

// Round after round: accept, receive the client's bytes, answer them, end the receive, close()
// with no shutdown() first. The client must see its own answer and then EOF each time, with the
// server's descriptor numbers reused from round to round.
TEST_P(IoBackendTest, CloseReleasesTheSocketAndItsNumberIsReusedSafely) {
  int first_handle = -1;
  int reused = 0;
  for (int round = 0; round < 50; ++round) {
    const int client = connect_to(address_);
    ASSERT_GE(client, 0);
    const IoCompletion accepted = next(IoOp::accept, &accept_owner_);
    ASSERT_GE(accepted.result, 0) << std::strerror(-accepted.result);
    const IoHandle h = accepted.result;
    if (round == 0) first_handle = h;
    if (h == first_handle) ++reused;

    backend_->start_recv(h, &conn_owner_);
    const std::string ask = "round " + std::to_string(round);
    ASSERT_TRUE(write_all(client, ask.data(), ask.size()));
    std::string got;
    while (got.size() < ask.size()) {
      const IoCompletion c = next(IoOp::recv, &conn_owner_);
      ASSERT_GT(c.result, 0);
      got.append(reinterpret_cast<const char*>(c.data), static_cast<size_t>(c.result));
      backend_->recycle_buffer(c.buffer_id);
    }
    ASSERT_EQ(got, ask);

    const std::string answer = "answer " + std::to_string(round);
    backend_->start_send(h, &conn_owner_, cp::as_bytes(std::string_view(answer)));
    ASSERT_EQ(next(IoOp::send, &conn_owner_).result, static_cast<int32_t>(answer.size()));
    std::string back(answer.size(), '\0');
    ASSERT_EQ(read_exact(client, back.data(), back.size()), answer.size());
    EXPECT_EQ(back, answer);

    backend_->stop_recv(h, &conn_owner_);
    for (int guard = 0; guard < 10; ++guard) {  // the receive's last completion: more == false
      const IoCompletion c = next(IoOp::recv, &conn_owner_);
      if (c.result > 0) backend_->recycle_buffer(c.buffer_id);
      if (!c.more || c.result == -ETIMEDOUT) break;
    }
    backend_->close(h);
    EXPECT_TRUE(wait_closed(client, 2000)) << "round " << round << ": the socket outlived close()";
    ::close(client);
  }
  EXPECT_GT(reused, 1) << "descriptor numbers were never reused: the test proves less";
}

}  // namespace
}  // namespace cp::engine
