// TCP side channel (port+1): greets each client with its id and a random key, and reports when
// a client's connection closes so that its range registrations can be released.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace ioc {
namespace server {

class TcpChannel {
 public:
  using CloseHandler = std::function<void(uint64_t clientId)>;
  // Binds ip:port now (throws on failure); serves from start() on.
  // At most maxClients side channels at once: a client beyond that gets a refusal greeting
  // (proto::TCP_REFUSED_CLIENT_ID) and its connection closed.
  TcpChannel(const std::string &ip, uint16_t port, bool auth, size_t maxClients, CloseHandler onClose);
  ~TcpChannel();
  void start();
  void stop();
  // True when (id, key) belongs to a connected client (always true without auth).
  bool authorized(uint64_t id, uint64_t key);
  size_t connectedClients();

 private:
  void run();
  void accept();
  void refuse(int fd);
  std::string ip_;
  bool auth_;
  size_t maxClients_;
  bool refusing_ = false;  // an episode of refusals is logged once
  std::chrono::steady_clock::time_point acceptPausedUntil_;  // after EMFILE/ENFILE
  CloseHandler onClose_;
  int listenFd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::map<int, uint64_t> fdToClient_;   // thread-only
  std::map<uint64_t, uint64_t> keys_;    // clientId -> key, under mu_
  uint64_t nextId_ = 0;  // from 0, as the original numbers its clients
};

}  // namespace server
}  // namespace ioc
