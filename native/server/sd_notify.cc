#include "server/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "server/log.h"

namespace ioc {
namespace server {

bool sdNotify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return true;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
    log(LOG_WARN, "server", "NOTIFY_SOCKET '%s' is not a unix socket path: systemd not notified", path);
    return false;
  }
  memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace: no trailing NUL counted
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    log(LOG_WARN, "server", "NOTIFY_SOCKET: socket: %s", strerror(errno));
    return false;
  }
  socklen_t addrLen = (socklen_t)(offsetof(sockaddr_un, sun_path) + len);
  ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, reinterpret_cast<sockaddr *>(&addr), addrLen);
  int err = errno;
  close(fd);
  if (n < 0) {
    log(LOG_WARN, "server", "cannot notify systemd on %s: %s", path, strerror(err));
    return false;
  }
  return true;
}

}  // namespace server
}  // namespace ioc
