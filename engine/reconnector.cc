#include "engine/reconnector.h"

#include "base/log.h"

namespace cp::engine {

Reconnector::Reconnector(Reactor& reactor, ConnectionHandler& handler, SocketAddress target,
                         ReconnectorOptions options)
    : reactor_(reactor),
      handler_(handler),
      target_(target),
      opt_(options),
      backoff_(options.min, options.max, options.seed) {
  timer_.set_callback(&Reconnector::on_timer, this);
}

// The reactor has stopped (or is gone) by now: its timers and connections are not touched.
Reconnector::~Reconnector() = default;

void Reconnector::start() {
  stopped_ = false;
  attempt();
}

void Reconnector::stop() {
  stopped_ = true;
  reactor_.cancel_timer(timer_);
  if (conn_) conn_->abort();  // on_close runs now or later; closed() then schedules nothing
}

void Reconnector::attempt() {
  if (stopped_ || conn_) return;
  ++attempts_;
  if (opt_.on_attempt) opt_.on_attempt();
  conn_ = reactor_.connect(target_, handler_, opt_.connect);
  if (!conn_) {
    CP_LOG_WARN("no free connection slot to reach {}; retrying", target_.to_string());
    schedule();
  }
}

bool Reconnector::closed(CloseReason reason) {
  conn_ = nullptr;
  if (stopped_ || reason == CloseReason::shutdown || reactor_.stop_requested()) return false;
  schedule();
  return true;
}

void Reconnector::schedule() {
  if (stopped_) return;
  reactor_.arm_timer(timer_, backoff_.next());
}

void Reconnector::on_timer(Timer&, void* self) {
  static_cast<Reconnector*>(self)->attempt();
}

}  // namespace cp::engine
