// What a client connection is opened with, and how opening one fails. Shared by the TCP side
// channel (side_channel.h) and the libfabric connection (connection.h).
#pragma once

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
};

// Connecting (the side channel, then the libfabric handshake) takes at most this long, or the
// call timeout when that is shorter.
constexpr unsigned CONNECT_TIMEOUT_MS = 10000;

struct ConnectError : std::runtime_error {
  ConnectError(int err, const std::string &what) : std::runtime_error(what), errnum(err) {}
  int errnum;  // positive errno
};

}  // namespace client
}  // namespace ioc
