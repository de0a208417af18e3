#pragma once

#include "client/connect_options.h"
#include "fabric/protocol.h"

namespace ioc {
namespace client {

// The TCP side channel (port+1) of one client handle to one server, as the original opens it:
// once per handle, and every libfabric connection of the handle carries its id/key. Range
// registrations belong to that id, so a range registered on one connection is unregistered on
// any other; the server releases them when this socket closes (the handle's end, or a crash).
class SideChannel {
 public:
  // Connects and reads the greeting; throws ConnectError on failure.
  explicit SideChannel(const ConnectOptions &opts);
  ~SideChannel();
  SideChannel(const SideChannel &) = delete;
  SideChannel &operator=(const SideChannel &) = delete;
  const proto::TcpHandshake &credentials() const { return tcp_; }
  // -1 when the server asked not to keep it (keepConnection false: an original --no-auth server).
  int fd() const { return fd_; }
  // True once the server closed it (it restarted or stopped). Safe from any thread.
  bool gone() const;

 private:
  int fd_ = -1;
  proto::TcpHandshake tcp_;
};

}  // namespace client
}  // namespace ioc
