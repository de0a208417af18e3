// What a handler knows of the request it serves, passed explicitly from the loop to the
// handler, the send path, and whatever answers later (RMA completions, store jobs, a parked
// retry), so that nothing about "the current request" lives in the server's members.
#pragma once

#include <rdma/fabric.h>

#include <chrono>
#include <cstdint>

#include "fabric/protocol.h"
#include "server/client_table.h"

namespace ioc {
namespace server {

// Who gets a request's reply, and as what.
struct ReplyTo {
  uint64_t lfClientId = 0;
  fi_addr_t peer = FI_ADDR_UNSPEC;
  uint64_t echo = 0;  // the request's sequence (RequestTrailer), echoed in the reply; 0: none
  uint64_t ackType = proto::ERROR_ACK;
};

// The request a handler is serving.
struct Incoming {
  proto::Header header;
  const LfClient *client = nullptr;  // the authenticated sender (nullptr for CONNECT_INIT)
  ReplyTo to;
  int64_t fenceNs = 0;  // a write's deadline on our clock (RequestDeadline; 0: none)
  std::chrono::steady_clock::time_point started;  // arrival (a parked request: its first)
  bool replaying = false;  // a parked request handled again
  bool timed = false;      // a header was decoded: its latency is measured
  bool async = false;      // answered later (RMA, store job): timed when that answer goes
  bool parked = false;     // park(): handled again once the cache makes progress
};

}  // namespace server
}  // namespace ioc
