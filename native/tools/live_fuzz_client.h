// iocatcher-live-fuzz's protocol client (usage: live_fuzz.cc): a libfabric endpoint of its own
// and a TCP side channel, that sends any bytes it is given, well-formed or not, and keeps what
// the server sends back in an inbox.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fabric/fabric.h"
#include "fabric/protocol.h"
#include "tools/message_bytes.h"

namespace live_fuzz {

using namespace ioc;
using namespace ioc::proto;
using ioc::tools::messageBytes;
using Clock = std::chrono::steady_clock;

int tcpConnect(const std::string &ip, int port);  // a connected socket, or -1
bool readFull(int fd, void *buf, size_t n, int timeoutMs);

struct Message {
  Header h;
  std::vector<char> bytes;
};

// The status of a reply (0 for a PONG; -10000 when it is no Response).
int replyStatus(const Message &m);

class RawClient {
 public:
  // Connects the side channel and the endpoint, and does the CONNECT_INIT handshake; throws
  // std::runtime_error when the server does not answer it.
  RawClient(const std::string &ip, const std::string &port);
  ~RawClient();

  // A header with our ids and key.
  Header header(uint64_t type) const;
  // A CONNECT_INIT payload naming our endpoint's address.
  FirstClientMessage firstMessage() const;
  uint64_t lfId() const { return lfId_; }
  const TcpHandshake &tcp() const { return tcp_; }
  fabric::Transport &transport() { return *t_; }

  // Send bytes (up to 2x the message buffer: larger than the server accepts, on purpose).
  bool send(const std::vector<char> &m);
  // Wait for a message of the given type that `match` accepts (others stay in the inbox).
  bool waitFor(uint64_t type, int timeoutMs, Message &out, const std::function<bool(const Message &)> &match = {});
  // Any message within timeoutMs.
  bool waitAny(int timeoutMs, Message &out);
  // Whether a PING is answered within timeoutMs, in up to `tries` tries (after refusing an RMA
  // key, the provider drops the connection and the messages in flight on it are lost).
  bool answersPing(int tries, int timeoutMs);
  std::deque<Message> &inbox() { return inbox_; }
  // Handle completions, waiting up to waitMs for them (0: only those already there).
  void progress(int waitMs);

 private:
  static constexpr size_t SLOTS = 16;
  void handle(const fabric::Completion &c);
  void repost(size_t i);
  void queueCompletions(int waitMs);  // into pending_ (waitMs 0: those already there)

  std::deque<fabric::Completion> pending_;
  int tcpFd_ = -1;
  TcpHandshake tcp_;
  std::unique_ptr<fabric::Transport> t_;
  fi_addr_t server_ = FI_ADDR_UNSPEC;
  std::unique_ptr<char[]> bufs_;
  fabric::MemoryRegion mr_;
  void *desc_ = nullptr;
  char *slots_[SLOTS];
  fi_context2 slotCtx_[SLOTS];
  char *sendBuf_ = nullptr;
  fi_context2 sendCtx_;
  bool sendDone_ = false;
  uint64_t lfId_ = 0;
  std::vector<char> myAddr_;
  std::deque<Message> inbox_;
};

// The three modes of the tool.
int runFuzz(const std::string &ip, const std::string &port, uint64_t count, uint64_t seed, uint64_t tcpCount);
int runCase(const std::string &ip, const std::string &port, const std::string &name);
int runForge(const std::string &ip, const std::string &port, uint64_t ids, uint64_t rounds);
// A well-behaved exchange on a fresh connection; false with `why` when the server fails it.
bool checkServer(const std::string &ip, const std::string &port, std::string &why);

}  // namespace live_fuzz
