#include "server/tcp_channel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/thread_name.h"
#include "fabric/protocol.h"
#include "server/log.h"

namespace ioc {
namespace server {

TcpChannel::TcpChannel(const std::string &ip, uint16_t port, bool auth, size_t maxClients, CloseHandler onClose)
    : ip_(ip), auth_(auth), maxClients_(maxClients), onClose_(std::move(onClose)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1)
    throw std::runtime_error("invalid listen address '" + ip + "' (an IPv4 address is expected)");
  listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listenFd_, (sockaddr *)&addr, sizeof addr) != 0 || listen(listenFd_, 128) != 0) {
    int err = errno;
    close(listenFd_);
    throw std::runtime_error("cannot listen on TCP " + ip + ":" + std::to_string(port) + ": " + strerror(err));
  }
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

TcpChannel::~TcpChannel() {
  stop();
  for (auto &kv : fdToClient_) close(kv.first);
  if (listenFd_ >= 0) close(listenFd_);
  if (wakeFd_ >= 0) close(wakeFd_);
}

void TcpChannel::start() { thread_ = std::thread([this] { run(); }); }

void TcpChannel::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(wakeFd_, &one, sizeof one);
  thread_.join();
}

bool TcpChannel::authorized(uint64_t id, uint64_t key) {
  if (!auth_) return true;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(id);
  return it != keys_.end() && it->second == key;
}

size_t TcpChannel::connectedClients() {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.size();
}

static constexpr auto ACCEPT_PAUSE = std::chrono::milliseconds(200);

void TcpChannel::accept() {
  int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Out of descriptors: the listening socket stays readable, so retrying at once would spin
      // (it did, at 80-90% CPU). Pause accepting; the connection waits in the backlog meanwhile.
      if (!refusing_)
        log(LOG_WARN, "tcp", "accept: %s with %zu clients connected: not accepting for a while (raise the fd "
            "limit, or lower --max-clients)", strerror(errno), fdToClient_.size());
      refusing_ = true;
      acceptPausedUntil_ = std::chrono::steady_clock::now() + ACCEPT_PAUSE;
    }
    return;
  }
  if (fdToClient_.size() >= maxClients_) return refuse(fd);
  if (refusing_ && fdToClient_.size() < maxClients_) {
    refusing_ = false;
    log(LOG_INFO, "tcp", "accepting clients again (%zu connected)", fdToClient_.size());
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  proto::TcpHandshake hs;
  if (getrandom(&hs.clientKey, sizeof hs.clientKey, 0) != sizeof hs.clientKey) hs.clientKey ^= (uint64_t)random() << 17;
  // Kept with --no-auth too: its close is how the server learns that a client died and
  // releases its range registrations (only the key checks are skipped).
  hs.keepConnection = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hs.clientId = nextId_++;
    if (nextId_ == proto::TCP_REFUSED_CLIENT_ID) nextId_ = 0;
    keys_[hs.clientId] = hs.clientKey;
  }
  char buf[proto::TcpHandshake::WIRE_SIZE];
  proto::Writer w(buf, sizeof buf);
  hs.encode(w);
  if (send(fd, buf, w.size(), MSG_NOSIGNAL) != (ssize_t)w.size()) {
    close(fd);
    std::lock_guard<std::mutex> lock(mu_);
    keys_.erase(hs.clientId);
    return;
  }
  fdToClient_[fd] = hs.clientId;
  log(LOG_DEBUG, "tcp", "client %llu connected", (unsigned long long)hs.clientId);
}

// A client beyond --max-clients: the refusal greeting (proto::TCP_REFUSED_CLIENT_ID), then the
// connection closes. One log line per episode.
void TcpChannel::refuse(int fd) {
  if (!refusing_)
    log(LOG_WARN, "tcp", "refusing new clients: %zu connected, the --max-clients limit", fdToClient_.size());
  refusing_ = true;
  proto::TcpHandshake hs;
  hs.clientId = proto::TCP_REFUSED_CLIENT_ID;
  hs.clientKey = 0;
  hs.keepConnection = false;
  char buf[proto::TcpHandshake::WIRE_SIZE];
  proto::Writer w(buf, sizeof buf);
  hs.encode(w);
  (void)!send(fd, buf, w.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

void TcpChannel::run() {
  ioc::nameThisThread("ioc-tcp-channel");
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wakeFd_, POLLIN, 0});
    auto now = std::chrono::steady_clock::now();
    bool paused = now < acceptPausedUntil_;
    fds.push_back({listenFd_, (short)(paused ? 0 : POLLIN), 0});
    for (auto &kv : fdToClient_) fds.push_back({kv.first, POLLIN, 0});
    int timeoutMs = paused ? (int)std::chrono::duration_cast<std::chrono::milliseconds>(acceptPausedUntil_ - now).count() + 1 : -1;
    int n = poll(fds.data(), fds.size(), timeoutMs);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) accept();
    for (size_t i = 2; i < fds.size(); i++) {
      if (!fds[i].revents) continue;
      char junk[256];
      ssize_t r = recv(fds[i].fd, junk, sizeof junk, MSG_DONTWAIT);
      if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) continue;  // clients send nothing; ignore
      uint64_t id = fdToClient_[fds[i].fd];
      close(fds[i].fd);
      fdToClient_.erase(fds[i].fd);
      {
        std::lock_guard<std::mutex> lock(mu_);
        keys_.erase(id);
      }
      log(LOG_DEBUG, "tcp", "client %llu disconnected", (unsigned long long)id);
      onClose_(id);
      if (refusing_ && fdToClient_.size() < maxClients_) {
        refusing_ = false;
        log(LOG_INFO, "tcp", "accepting clients again (%zu connected)", fdToClient_.size());
      }
    }
  }
}

}  // namespace server
}  // namespace ioc
