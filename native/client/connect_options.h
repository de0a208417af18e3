// What a client connection is opened with, and how opening one fails. Shared by the TCP side
// channel (side_channel.h) and the libfabric connection (connection.h).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

namespace ioc {
namespace client {

struct ConnectOptions {
  std::string ip;
  std::string port = "8556";
  std::string provider;         // empty: FI_PROVIDER or tcp;ofi_rxm
  unsigned timeoutMs = 30000;   // per call; 0 = forever
  bool passiveWait = true;
  // Connecting (the side channel, then the libfabric handshake) ends by then: the deadline of
  // the call that connects. Unset: timeoutMs from the start of the connect.
  std::chrono::steady_clock::time_point deadline{};
};

// Connecting without a call timeout (timeoutMs 0, "forever") still ends after this long.
constexpr unsigned CONNECT_TIMEOUT_MS = 10000;

// When a connect with these options must be done: the configured timeout governs.
inline std::chrono::steady_clock::time_point connectDeadline(const ConnectOptions &o) {
  if (o.deadline != std::chrono::steady_clock::time_point{}) return o.deadline;
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeoutMs ? o.timeoutMs : CONNECT_TIMEOUT_MS);
}

// Milliseconds left until a deadline (0 once passed), for poll().
inline unsigned msLeft(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
  return left <= 0 ? 0 : left > 86400000 ? 86400000u : (unsigned)left;
}

struct ConnectError : std::runtime_error {
  ConnectError(int err, const std::string &what) : std::runtime_error(what), errnum(err) {}
  int errnum;  // positive errno
};

}  // namespace client
}  // namespace ioc
