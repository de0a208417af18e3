#include "tools/live_fuzz_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace live_fuzz {

int tcpConnect(const std::string &ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (connect(fd, (sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool readFull(int fd, void *buf, size_t n, int timeoutMs) {
  size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeoutMs) <= 0) return false;
    ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
    if (r <= 0) return false;
    got += r;
  }
  return true;
}

int replyStatus(const Message &m) {
  Reader r(m.bytes.data(), m.bytes.size());
  Header h;
  h.decode(r);
  if (m.h.msgType == PONG) return 0;
  Response resp;
  if (!decodeResponse(r, resp)) return -10000;
  return resp.status;
}

RawClient::RawClient(const std::string &ip, const std::string &port) {
  tcpFd_ = tcpConnect(ip, atoi(port.c_str()) + 1);
  if (tcpFd_ < 0) throw std::runtime_error("cannot connect to the TCP side channel");
  char g[TcpHandshake::WIRE_SIZE];
  if (!readFull(tcpFd_, g, sizeof g, 5000)) throw std::runtime_error("no TCP greeting");
  Reader r(g, sizeof g);
  if (!tcp_.decode(r)) throw std::runtime_error("bad TCP greeting");
  fabric::Options fo;
  fo.node = ip;
  fo.service = port;
  t_.reset(new fabric::Transport(fo, 256));
  server_ = t_->av.insert(t_->info->dest_addr);
  bufs_.reset(new char[(SLOTS + 1) * MSG_BUFFER_SIZE * 2]);
  if (t_->needsLocalMr()) {
    mr_ = fabric::MemoryRegion(t_->domain, t_->info, bufs_.get(), (SLOTS + 1) * MSG_BUFFER_SIZE * 2,
                               FI_SEND | FI_RECV, 77);
    desc_ = mr_.desc();
  }
  for (size_t i = 0; i < SLOTS; i++) {
    slots_[i] = bufs_.get() + i * MSG_BUFFER_SIZE;
    repost(i);
  }
  sendBuf_ = bufs_.get() + SLOTS * MSG_BUFFER_SIZE;
  // CONNECT_INIT with our address; the reply assigns our libfabric client id.
  myAddr_ = t_->ep.name();
  send(messageBytes(header(CONNECT_INIT), firstMessage()));
  Message reply;
  if (!waitFor(ASSIGN_ID, 10000, reply)) throw std::runtime_error("no ASSIGN_ID");
  Reader r2(reply.bytes.data(), reply.bytes.size());
  Header rh;
  FirstHandshake fh;
  rh.decode(r2);
  if (!decodePayload(r2, fh)) throw std::runtime_error("bad ASSIGN_ID");
  lfId_ = fh.assignLfClientId;
}

RawClient::~RawClient() {
  t_.reset();
  if (tcpFd_ >= 0) close(tcpFd_);
}

Header RawClient::header(uint64_t type) const { return ioc::tools::headerOf(type, lfId_, tcp_.clientId, tcp_.clientKey); }

FirstClientMessage RawClient::firstMessage() const {
  FirstClientMessage m;
  memcpy(m.addr, myAddr_.data(), std::min(myAddr_.size(), sizeof m.addr));
  m.addrLen = std::max(myAddr_.size(), FirstClientMessage::ORIGINAL_ADDR_SIZE);
  return m;
}

bool RawClient::send(const std::vector<char> &m) {
  size_t len = std::min(m.size(), 2 * MSG_BUFFER_SIZE);
  memcpy(sendBuf_, m.data(), len);
  auto start = Clock::now();
  for (;;) {
    ssize_t ret = t_->ep.send(sendBuf_, len, desc_, server_, &sendCtx_);
    if (ret == 0) break;
    if (ret != -FI_EAGAIN || Clock::now() - start > std::chrono::seconds(10)) return false;
    progress(1);
  }
  sendDone_ = false;
  start = Clock::now();
  while (!sendDone_) {
    if (Clock::now() - start > std::chrono::seconds(10)) return false;
    progress(10);
  }
  return true;
}

bool RawClient::waitFor(uint64_t type, int timeoutMs, Message &out, const std::function<bool(const Message &)> &match) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (it->h.msgType == type && (!match || match(*it))) {
        out = std::move(*it);
        inbox_.erase(it);
        return true;
      }
    }
    if (Clock::now() >= deadline) return false;
    progress(20);
  }
}

bool RawClient::waitAny(int timeoutMs, Message &out) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  while (inbox_.empty()) {
    if (Clock::now() >= deadline) return false;
    progress(20);
  }
  out = std::move(inbox_.front());
  inbox_.pop_front();
  return true;
}

bool RawClient::answersPing(int tries, int timeoutMs) {
  for (int attempt = 0; attempt < tries; attempt++) {
    Ping p;
    p.eagerSize = 4;
    p.data = "ping";
    Message pong;
    if (send(messageBytes(header(PING), p)) && waitFor(PONG, timeoutMs, pong)) return true;
  }
  return false;
}

void RawClient::queueCompletions(int waitMs) {
  fabric::Completion c[16];
  size_t n = waitMs ? t_->cq.wait(c, 16, waitMs) : t_->cq.poll(c, 16);
  for (size_t i = 0; i < n; i++) pending_.push_back(c[i]);
}

void RawClient::progress(int waitMs) {
  queueCompletions(waitMs);
  while (!pending_.empty()) {
    fabric::Completion one = pending_.front();
    pending_.pop_front();
    handle(one);
  }
}

void RawClient::handle(const fabric::Completion &c) {
  if (c.context == &sendCtx_) {
    sendDone_ = true;
    return;
  }
  if (c.context < (void *)slotCtx_ || c.context >= (void *)(slotCtx_ + SLOTS)) return;  // none expected
  size_t slot = (size_t)(static_cast<fi_context2 *>(c.context) - slotCtx_);
  if (!c.error) {
    Message m;
    m.bytes.assign(slots_[slot], slots_[slot] + c.len);
    Reader r(m.bytes.data(), m.bytes.size());
    if (m.h.decode(r)) inbox_.push_back(std::move(m));
  }
  repost(slot);
}

void RawClient::repost(size_t i) {
  for (int k = 0; k < 100000; k++) {
    ssize_t ret = t_->ep.postRecv(slots_[i], MSG_BUFFER_SIZE, desc_, &slotCtx_[i]);
    if (ret != -FI_EAGAIN) return;
    queueCompletions(0);
  }
}

}  // namespace live_fuzz
