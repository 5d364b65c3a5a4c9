// Keeps one outbound connection up: connects, and after a failed attempt or a lost connection
// connects again after a jittered exponential backoff (base/backoff.h: from `min` doubling to
// `max`, each delay spread by a quarter either way, so many links that lost the same peer do not
// return in the same instant). An attempt that does not complete is given up by the reactor
// after its connect timeout and reported through on_close like a refusal.
//
// The protocol stays with its owner, which is the connection's ConnectionHandler and calls:
//   closed(why)  from its on_close: the next attempt is scheduled (unless stopped, or the
//                reactor is stopping); returns whether one was;
//   succeeded()  once the link is really up (bound, registered): the backoff starts over.
// Used by the SMPP uplink, the SMSC CoreLink and the bank daemon's link to the remsim server
// (and the GSUP client next), so each keeps only its own protocol and log lines.
//
// Lifetime and thread: lives on its reactor's thread, outlives the connection it made.
#pragma once

#include <cstdint>
#include <functional>

#include "base/backoff.h"
#include "base/socket_address.h"
#include "engine/reactor.h"
#include "engine/timer.h"

namespace cp::engine {

struct ReconnectorOptions {
  Nanos min = kNanosPerSecond;       // first retry delay
  Nanos max = 30 * kNanosPerSecond;  // the delay doubles up to this
  uint64_t seed = 1;                 // jitter seed (e.g. the owner's address or id)
  ConnectOptions connect;            // seqpacket for AF_UNIX message sockets
  // Called before each attempt (counters, state); may be empty.
  std::function<void()> on_attempt;
};

class Reconnector {
 public:
  Reconnector(Reactor& reactor, ConnectionHandler& handler, SocketAddress target,
              ReconnectorOptions options);
  ~Reconnector();
  Reconnector(const Reconnector&) = delete;
  Reconnector& operator=(const Reconnector&) = delete;

  // Connects now (and keeps connecting until stop()).
  void start();
  // Stops reconnecting and aborts the connection if there is one (its on_close still runs).
  void stop();
  bool stopped() const { return stopped_; }

  // The connection of the current attempt or link, or null between attempts.
  Connection* connection() const { return conn_; }
  // Where the next attempt goes (the current connection is left alone).
  void set_target(SocketAddress target) { target_ = target; }
  const SocketAddress& target() const { return target_; }

  // From the handler's on_close: forgets the connection and schedules the next attempt unless
  // stopped or the reactor is stopping (`reason` shutdown). Returns true if it scheduled one.
  bool closed(CloseReason reason);
  // The link is up for real: the next loss retries after `min` again.
  void succeeded() { backoff_.reset(); }

  uint64_t attempts() const { return attempts_; }

 private:
  void attempt();
  void schedule();
  static void on_timer(Timer&, void* self);

  Reactor& reactor_;
  ConnectionHandler& handler_;
  SocketAddress target_;
  ReconnectorOptions opt_;
  Backoff backoff_;
  Timer timer_;
  Connection* conn_ = nullptr;
  bool stopped_ = true;
  uint64_t attempts_ = 0;
};

}  // namespace cp::engine
