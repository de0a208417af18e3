// Whole messages (header + payload) as bytes, for the test and fuzz tools. Room for twice the
// server's message buffer: a tool may build an oversized message on purpose.
#pragma once

#include <cstdint>
#include <vector>

#include "fabric/protocol.h"

namespace ioc {
namespace tools {

inline proto::Header headerOf(uint64_t type, uint64_t lfClientId, uint64_t tcpClientId, uint64_t tcpClientKey) {
  proto::Header h;
  h.msgType = type;
  h.lfClientId = lfClientId;
  h.tcpClientId = tcpClientId;
  h.tcpClientKey = tcpClientKey;
  return h;
}

// Empty when the message does not fit.
template <class Byte = char, class P>
std::vector<Byte> messageBytes(const proto::Header &h, const P &p) {
  std::vector<Byte> m(2 * proto::MSG_BUFFER_SIZE);
  m.resize(proto::encodeMessage(m.data(), m.size(), h, p));
  return m;
}

}  // namespace tools
}  // namespace ioc
