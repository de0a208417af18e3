// TCP side channel (port+1): greets each client with its id and a random key, and reports when
// a client's connection closes so that its range registrations can be released.
#pragma once

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
  TcpChannel(const std::string &ip, uint16_t port, bool auth, CloseHandler onClose);
  ~TcpChannel();
  void start();
  void stop();
  // True when (id, key) belongs to a connected client (always true without auth).
  bool authorized(uint64_t id, uint64_t key);
  size_t connectedClients();

 private:
  void run();
  void accept();
  std::string ip_;
  bool auth_;
  CloseHandler onClose_;
  int listenFd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::map<int, uint64_t> fdToClient_;   // thread-only
  std::map<uint64_t, uint64_t> keys_;    // clientId -> key, under mu_
  uint64_t nextId_ = 1;
};

}  // namespace server
}  // namespace ioc
