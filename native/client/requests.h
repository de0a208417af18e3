// Pieces of the client shared by the C API (blocking calls on any thread) and the Node addon
// (non-blocking calls driven by the event loop): the read/write request, and borrowing an idle
// pooled connection without blocking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/connection.h"
#include "fabric/protocol.h"
#include "iocatcher-client.h"

namespace ioc {
namespace client {

// One read or write: its request, and what its READ_WRITE_ACK means.
struct ReadWriteCall {
  ReadWriteCall(int64_t high, int64_t low, void *buffer, size_t size, uint64_t offset, bool write);
  bool eager() const { return msg.size <= proto::EAGER_MAX; }
  uint64_t msgType() const { return write ? proto::OBJ_WRITE : proto::OBJ_READ; }
  uint64_t replyType() const { return proto::READ_WRITE_ACK; }
  void encode(proto::Writer &w) const { msg.encode(w); }
  // 0 or a negative errno; copies inline read data into the buffer.
  int onReply(proto::Reader &r);
  int64_t result() const { return transferred; }

  proto::ReadWrite msg;
  bool write;
  void *buffer;
  int64_t transferred = 0;
};

// One PING carrying eagerSize inline bytes and offering rdmaSize bytes for the server to read by
// RMA (the caller registers rdma and fills msg.iov). The bytes are the original's: it checks
// that inline ones are 43 and RMA ones 42. Two answers are accepted: ours echoes the Ping
// payload; the original sends a plain Response (msgDataSize 0, status 0, no data).
struct PingCall {
  static constexpr char EAGER_BYTE = 43, RMA_BYTE = 42;
  explicit PingCall(size_t eagerSize, size_t rdmaSize = 0);
  uint64_t msgType() const { return proto::PING; }
  uint64_t replyType() const { return proto::PONG; }
  void encode(proto::Writer &w) const { msg.encode(w); }
  int onReply(proto::Reader &r);
  int64_t result() const { return 0; }

  std::vector<char> data;
  std::vector<char> rdma;
  proto::Ping msg;
};

// The object namespace (extension): sent only to a server whose handshake listed
// proto::FEATURE_NAMESPACE (namespaceRefusal() says why not otherwise).

// OBJ_STAT: what the server knows of one object (stat), or -ENOENT.
struct StatCall {
  StatCall(int64_t high, int64_t low);
  uint64_t msgType() const { return proto::OBJ_STAT; }
  uint64_t replyType() const { return proto::OBJ_STAT_ACK; }
  void encode(proto::Writer &w) const { msg.encode(w); }
  int onReply(proto::Reader &r);
  int64_t result() const { return 0; }

  proto::ObjectRequest msg;
  proto::ObjectStat stat;
};

// OBJ_DELETE: 0, -ENOENT, or -EBUSY while a range of the object is registered.
struct DeleteCall {
  DeleteCall(int64_t high, int64_t low);
  uint64_t msgType() const { return proto::OBJ_DELETE; }
  uint64_t replyType() const { return proto::OBJ_DELETE_ACK; }
  void encode(proto::Writer &w) const { msg.encode(w); }
  int onReply(proto::Reader &r);
  int64_t result() const { return 0; }

  proto::ObjectRequest msg;
};

// OBJ_LIST: one page of one server's listing (proto::ListPage).
struct ListCall {
  uint64_t msgType() const { return proto::OBJ_LIST; }
  uint64_t replyType() const { return proto::OBJ_LIST_ACK; }
  void encode(proto::Writer &w) const { msg.encode(w); }
  int onReply(proto::Reader &r);
  int64_t result() const { return 0; }

  proto::ListRequest msg;
  proto::ListPage page;
};

// Why a namespace request is not sent to this connection's server ("" when it may be): the
// words of ioc_client_last_error and of the TypeScript error, naming the server.
std::string namespaceRefusal(const Connection &conn, const std::string &serverName);

// An idle connection to the server owning (high, low), or conn == nullptr when none is idle
// right now (the caller then takes the blocking path, which may open one).
struct Borrowed {
  Connection *conn = nullptr;
  void *pool = nullptr;
};
Borrowed tryBorrowIdle(ioc_client_t *client, int64_t high, int64_t low);
// Back to its pool; a broken connection is dropped (the next call reconnects).
void giveBack(const Borrowed &b);

}  // namespace client
}  // namespace ioc
