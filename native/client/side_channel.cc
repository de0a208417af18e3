// The TCP side channel of a client handle: connect (bounded), read the server's greeting (id,
// key, protocol version, refusal), and keep the socket as the handle's liveness signal.
#include "client/side_channel.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace ioc {
namespace client {

using namespace proto;

static int pollFd(int fd, short events, unsigned timeoutMs) {
  pollfd p{fd, events, 0};
  int n;
  do n = poll(&p, 1, (int)timeoutMs);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  return n == 0 ? -ETIMEDOUT : 0;
}

SideChannel::~SideChannel() {
  if (fd_ >= 0) close(fd_);
}

SideChannel::SideChannel(const ConnectOptions &opts) {
  // Connecting ends by the deadline of the call that connects: a server that hangs must not hold
  // a call longer than its timeout (the TCP connect and the greeting share it).
  auto deadline = connectDeadline(opts);
  unsigned connectMs = msLeft(deadline);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  std::string tcpPort = std::to_string(atoi(opts.port.c_str()) + 1);
  int gai = getaddrinfo(opts.ip.c_str(), tcpPort.c_str(), &hints, &res);
  if (gai != 0) throw ConnectError(EINVAL, std::string("cannot resolve ") + opts.ip + ": " + gai_strerror(gai));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    int err = errno;
    freeaddrinfo(res);
    throw ConnectError(err, std::string("socket: ") + strerror(err));
  }
  int ret = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  int err = 0;
  if (ret != 0 && errno == EINPROGRESS) {
    ret = pollFd(fd, POLLOUT, msLeft(deadline));
    socklen_t len = sizeof err;
    if (ret == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    else err = -ret;
  } else if (ret != 0) {
    err = errno;
  }
  if (err) {
    close(fd);
    throw ConnectError(err, "cannot connect to " + opts.ip + ":" + tcpPort + ": " + strerror(err));
  }
  char buf[TcpHandshake::WIRE_SIZE];
  size_t got = 0;
  bool timedOut = false;
  while (got < sizeof buf) {
    if (pollFd(fd, POLLIN, msLeft(deadline)) < 0) {
      timedOut = true;
      break;
    }
    ssize_t n = recv(fd, buf + got, sizeof buf - got, 0);
    if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) break;
    if (n > 0) got += n;
  }
  if (got != sizeof buf && timedOut) {  // accepted, but no answer: a hung server
    close(fd);
    throw ConnectError(ETIMEDOUT, "no greeting on the TCP side channel of " + opts.ip + ":" + tcpPort + " within " +
                                      std::to_string(connectMs) + " ms");
  }
  if (got != sizeof buf) {
    close(fd);
    throw ConnectError(ECONNRESET, "the server closed the TCP side channel of " + opts.ip + ":" + tcpPort + " before its greeting");
  }
  Reader r(buf, got);
  if (!tcp_.decode(r)) {
    close(fd);
    throw ConnectError(EPROTO, "no valid greeting on the TCP side channel of " + opts.ip + ":" + tcpPort);
  }
  if (tcp_.version != PROTOCOL_VERSION) {
    close(fd);
    throw ConnectError(EPROTONOSUPPORT, "server speaks protocol " + std::to_string(tcp_.version));
  }
  if (tcp_.isRefusal()) {  // id 0 is a normal id: the original's first client gets it
    close(fd);
    throw ConnectError(EUSERS, "the server at " + opts.ip + ":" + tcpPort +
                                         " refused the connection: it serves as many clients as its --max-clients allows");
  }
  if (tcp_.keepConnection) {
    fd_ = fd;
  } else {
    close(fd);
  }
}

// Only peeks: several connections (threads) of a handle ask at once.
bool SideChannel::gone() const {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  char c;
  ssize_t n = recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

}  // namespace client
}  // namespace ioc
