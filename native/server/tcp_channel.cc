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

#include "fabric/protocol.h"
#include "server/log.h"

namespace ioc {
namespace server {

TcpChannel::TcpChannel(const std::string &ip, uint16_t port, bool auth, CloseHandler onClose)
    : ip_(ip), auth_(auth), onClose_(std::move(onClose)) {
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

void TcpChannel::accept() {
  int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  proto::TcpHandshake hs;
  if (getrandom(&hs.clientKey, sizeof hs.clientKey, 0) != sizeof hs.clientKey) hs.clientKey ^= (uint64_t)random() << 17;
  hs.keepConnection = auth_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hs.clientId = nextId_++;
    if (auth_) keys_[hs.clientId] = hs.clientKey;
  }
  char buf[proto::TcpHandshake::WIRE_SIZE];
  proto::Writer w(buf, sizeof buf);
  hs.encode(w);
  if (send(fd, buf, w.size(), MSG_NOSIGNAL) != (ssize_t)w.size() || !auth_) {
    close(fd);
    if (auth_) {
      std::lock_guard<std::mutex> lock(mu_);
      keys_.erase(hs.clientId);
    }
    return;
  }
  fdToClient_[fd] = hs.clientId;
  log(LOG_DEBUG, "tcp", "client %llu connected", (unsigned long long)hs.clientId);
}

void TcpChannel::run() {
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wakeFd_, POLLIN, 0});
    fds.push_back({listenFd_, POLLIN, 0});
    for (auto &kv : fdToClient_) fds.push_back({kv.first, POLLIN, 0});
    int n = poll(fds.data(), fds.size(), -1);
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
    }
  }
}

}  // namespace server
}  // namespace ioc
