#include "fabric/protocol.h"

namespace ioc {
namespace proto {

const char *msgTypeName(uint64_t type) {
  switch (type) {
    case CONNECT_INIT: return "CONNECT_INIT";
    case ASSIGN_ID: return "ASSIGN_ID";
    case BAD_AUTH: return "BAD_AUTH";
    case FATAL_ERROR: return "FATAL_ERROR";
    case ERROR_ACK: return "ERROR_ACK";
    case PING: return "PING";
    case PONG: return "PONG";
    case OBJ_READ: return "OBJ_READ";
    case OBJ_WRITE: return "OBJ_WRITE";
    case READ_WRITE_ACK: return "READ_WRITE_ACK";
    case FLUSH: return "FLUSH";
    case FLUSH_ACK: return "FLUSH_ACK";
    case CREATE: return "CREATE";
    case CREATE_ACK: return "CREATE_ACK";
    case RANGE_REGISTER: return "RANGE_REGISTER";
    case RANGE_REGISTER_ACK: return "RANGE_REGISTER_ACK";
    case RANGE_UNREGISTER: return "RANGE_UNREGISTER";
    case RANGE_UNREGISTER_ACK: return "RANGE_UNREGISTER_ACK";
    case COW: return "COW";
    case COW_ACK: return "COW_ACK";
    case OBJ_STAT: return "OBJ_STAT";
    case OBJ_STAT_ACK: return "OBJ_STAT_ACK";
    case OBJ_LIST: return "OBJ_LIST";
    case OBJ_LIST_ACK: return "OBJ_LIST_ACK";
    case OBJ_DELETE: return "OBJ_DELETE";
    case OBJ_DELETE_ACK: return "OBJ_DELETE_ACK";
    case OBJ_WRITE_PIECES: return "OBJ_WRITE_PIECES";
    default: return "UNKNOWN";
  }
}

void Writer::putBytes(const void *p, size_t n) {
  if (!ok_ || n > cap_ - pos_) {
    ok_ = false;
    return;
  }
  if (n) std::memcpy(buf_ + pos_, p, n);
  pos_ += n;
}

void Writer::putString(const std::string &s) {
  uint64_t len = s.size() + 1;
  put(len);
  putBytes(s.c_str(), len);
}

bool Reader::getBytes(void *p, size_t n) {
  const char *src;
  if (!view(src, n)) return false;
  if (n) std::memcpy(p, src, n);
  return true;
}

bool Reader::view(const char *&p, size_t n) {
  if (!ok_ || n > len_ - pos_) {
    ok_ = false;
    return false;
  }
  p = buf_ + pos_;
  pos_ += n;
  return true;
}

bool Reader::getBool(bool &v) {
  uint8_t b;
  if (!get(b)) return false;
  if (b > 1) return ok_ = false;  // only 0 and 1 are valid booleans on the wire
  v = b == 1;
  return true;
}

bool Reader::getString(std::string &s, size_t maxLen) {
  uint64_t len;
  const char *p;
  if (!get(len)) return false;
  if (len == 0 || len > maxLen + 1) return ok_ = false;
  if (!view(p, len)) return false;
  if (p[len - 1] != '\0') return ok_ = false;
  s.assign(p, len - 1);
  return true;
}

void Header::encode(Writer &w) const {
  w.put(msgType);
  w.put(lfClientId);
  w.put(tcpClientId);
  w.put(tcpClientKey);
}
bool Header::decode(Reader &r) {
  return r.get(msgType) && r.get(lfClientId) && r.get(tcpClientId) && r.get(tcpClientKey);
}

void RequestTrailer::encode(Writer &w) const {
  w.put(MAGIC);
  w.put(sequence);
}

// True when [Header::WIRE_SIZE, len) holds exactly one valid payload of this request type.
static bool payloadEndsAt(uint64_t type, const char *msg, size_t len) {
  Reader r(msg + Header::WIRE_SIZE, len - Header::WIRE_SIZE);
  switch (type) {
    case PING: { Ping p; return decodePayload(r, p); }
    case OBJ_READ:
    case OBJ_WRITE: { ReadWrite p; return decodePayload(r, p); }
    case FLUSH: { Flush p; return decodePayload(r, p); }
    case CREATE: { Create p; return decodePayload(r, p); }
    case RANGE_REGISTER: { RegisterRange p; return decodePayload(r, p); }
    case RANGE_UNREGISTER: { UnregisterRange p; return decodePayload(r, p); }
    case COW: { Cow p; return decodePayload(r, p); }
    case OBJ_STAT:
    case OBJ_DELETE: { ObjectRequest p; return decodePayload(r, p); }
    case OBJ_LIST: { ListRequest p; return decodePayload(r, p); }
    case OBJ_WRITE_PIECES: { WritePieces p; return decodePayload(r, p); }
    default: return false;
  }
}

void RequestDeadline::encode(Writer &w) const {
  w.put(MAGIC);
  w.put(serverNs);
}

size_t splitRequestTrailer(const char *msg, size_t len, uint64_t &sequence, int64_t *deadlineNs) {
  sequence = 0;
  if (deadlineNs) *deadlineNs = 0;
  if (len < Header::WIRE_SIZE + RequestTrailer::WIRE_SIZE) return len;
  uint64_t type, magic, seq;
  size_t at = len - RequestTrailer::WIRE_SIZE;
  std::memcpy(&type, msg, sizeof type);
  std::memcpy(&magic, msg + at, sizeof magic);
  std::memcpy(&seq, msg + at + sizeof magic, sizeof seq);
  if (magic != RequestTrailer::MAGIC) return len;
  // A deadline block sits right before the trailer. Payloads are self-delimiting, so the
  // payload ends at exactly one of the two places: a payload whose own last bytes look like a
  // deadline block does not end 16 bytes earlier.
  if (deadlineNs && at >= Header::WIRE_SIZE + RequestDeadline::WIRE_SIZE) {
    size_t before = at - RequestDeadline::WIRE_SIZE;
    uint64_t dmagic;
    int64_t ns;
    std::memcpy(&dmagic, msg + before, sizeof dmagic);
    std::memcpy(&ns, msg + before + sizeof dmagic, sizeof ns);
    if (dmagic == RequestDeadline::MAGIC && ns != 0 && payloadEndsAt(type, msg, before)) {
      sequence = seq;
      *deadlineNs = ns;
      return before;
    }
  }
  if (!payloadEndsAt(type, msg, at)) return len;
  sequence = seq;
  return at;
}

void ObjectId::encode(Writer &w) const {
  w.put(low);
  w.put(high);
}
bool ObjectId::decode(Reader &r) { return r.get(low) && r.get(high); }

void Iov::encode(Writer &w) const {
  w.put(addr);
  w.put(key);
}
bool Iov::decode(Reader &r) { return r.get(addr) && r.get(key); }

void ReadWrite::encode(Writer &w) const {
  objectId.encode(w);
  iov.encode(w);
  w.put(offset);
  w.put(size);
  w.putBool(msgHasData);
  if (msgHasData) w.putBytes(data, size);
}
bool ReadWrite::decode(Reader &r) {
  if (!(objectId.decode(r) && iov.decode(r) && r.get(offset) && r.get(size) && r.getBool(msgHasData)))
    return false;
  data = nullptr;
  if (msgHasData) return size <= EAGER_MAX && r.view(data, size);
  return true;
}

uint64_t WritePieces::totalBytes() const {
  uint64_t n = 0;
  for (const Piece &p : pieces) n += p.size;
  return n;
}
void WritePieces::encode(Writer &w) const {
  objectId.encode(w);
  w.put((uint32_t)pieces.size());
  for (const Piece &p : pieces) {
    w.put(p.offset);
    w.put(p.size);
  }
  for (const Piece &p : pieces) w.putBytes(p.data, p.size);
}
bool WritePieces::decode(Reader &r) {
  uint32_t n = 0;
  if (!(objectId.decode(r) && r.get(n)) || n == 0 || n > MAX_PIECES) return false;
  pieces.assign(n, Piece{});
  uint64_t total = 0;
  for (Piece &p : pieces) {
    if (!(r.get(p.offset) && r.get(p.size)) || p.size == 0 || p.offset + p.size < p.offset) return false;
    total += p.size;
  }
  if (total > EAGER_MAX) return false;
  for (Piece &p : pieces)
    if (!r.view(p.data, p.size)) return false;
  return true;
}

void Flush::encode(Writer &w) const {
  objectId.encode(w);
  w.put(offset);
  w.put(size);
}
bool Flush::decode(Reader &r) { return objectId.decode(r) && r.get(offset) && r.get(size); }

void Create::encode(Writer &w) const { objectId.encode(w); }
bool Create::decode(Reader &r) { return objectId.decode(r); }

void RegisterRange::encode(Writer &w) const {
  objectId.encode(w);
  w.put(offset);
  w.put(size);
  w.putBool(write);
}
bool RegisterRange::decode(Reader &r) {
  return objectId.decode(r) && r.get(offset) && r.get(size) && r.getBool(write);
}

void UnregisterRange::encode(Writer &w) const {
  objectId.encode(w);
  w.put(offset);
  w.put(size);
  w.put(id);
  w.putBool(write);
}
bool UnregisterRange::decode(Reader &r) {
  return objectId.decode(r) && r.get(offset) && r.get(size) && r.get(id) && r.getBool(write);
}

void Cow::encode(Writer &w) const {
  src.encode(w);
  dst.encode(w);
  w.putBool(allowExist);
  w.put(rangeOffset);
  w.put(rangeSize);
}
bool Cow::decode(Reader &r) {
  return src.decode(r) && dst.decode(r) && r.getBool(allowExist) && r.get(rangeOffset) && r.get(rangeSize);
}

void Response::encode(Writer &w) const {
  w.put(msgDataSize);
  w.put(status);
  w.putBool(msgHasData);
  if (msgHasData) w.putBytes(data, msgDataSize);
}
bool Response::decode(Reader &r) {
  if (!(r.get(msgDataSize) && r.get(status) && r.getBool(msgHasData))) return false;
  data = nullptr;
  if (msgHasData) return msgDataSize <= EAGER_MAX && r.view(data, msgDataSize);
  return true;
}

void ReplyReason::encode(Writer &w) const {
  w.put(MAGIC);
  w.putString(reason.size() > MAX ? reason.substr(0, MAX) : reason);
}
bool ReplyReason::decode(Reader &r) {
  uint64_t magic;
  return r.get(magic) && magic == MAGIC && r.getString(reason, MAX);
}

bool decodeResponse(Reader &r, Response &out, std::string *reason) {
  if (!out.decode(r)) return false;
  if (r.done()) return true;
  ReplyReason why;
  if (!decodePayload(r, why)) return false;
  if (reason) *reason = why.reason;
  return true;
}

void ObjectRequest::encode(Writer &w) const { objectId.encode(w); }
bool ObjectRequest::decode(Reader &r) { return objectId.decode(r); }

void ObjectStat::encode(Writer &w) const {
  objectId.encode(w);
  w.put(size);
  w.put(storedBytes);
  w.put(cachedBytes);
  w.put(dirtyBytes);
  w.putBool(stored);
}
bool ObjectStat::decode(Reader &r) {
  return objectId.decode(r) && r.get(size) && r.get(storedBytes) && r.get(cachedBytes) && r.get(dirtyBytes) &&
         r.getBool(stored);
}

void ListRequest::encode(Writer &w) const {
  w.putString(cursor);
  w.putBool(filterHigh);
  w.put(high);
  w.put(maxEntries);
}
bool ListRequest::decode(Reader &r) {
  return r.getString(cursor, CURSOR_MAX) && r.getBool(filterHigh) && r.get(high) && r.get(maxEntries);
}

void ListPage::encode(Writer &w) const {
  w.putBool(end);
  w.putBool(fromStore);
  w.putString(next);
  uint32_t n = (uint32_t)entries.size();
  w.put(n);
  for (const ObjectStat &e : entries) e.encode(w);
}
bool ListPage::decode(Reader &r) {
  uint32_t n;
  if (!(r.getBool(end) && r.getBool(fromStore) && r.getString(next, ListRequest::CURSOR_MAX) && r.get(n)))
    return false;
  if (n > MAX_ENTRIES || (size_t)n * ObjectStat::WIRE_SIZE > r.remaining()) return false;
  entries.resize(n);
  for (ObjectStat &e : entries)
    if (!e.decode(r)) return false;
  return true;
}

void FirstHandshake::encode(Writer &w) const {
  w.put(protocolVersion);
  w.put(assignLfClientId);
  if (hasServerInfo) {
    w.put(serverEpoch);
    w.putBool(durableWrites);
    if (fencing) {
      w.put(serverClockNs);
      if (features) w.put(features);
    }
  }
}
bool FirstHandshake::decode(Reader &r) {
  if (!(r.get(protocolVersion) && r.get(assignLfClientId))) return false;
  hasServerInfo = r.remaining() >= sizeof serverEpoch + 1;
  fencing = false;
  serverClockNs = 0;
  if (hasServerInfo && !(r.get(serverEpoch) && r.getBool(durableWrites))) return false;
  features = 0;
  if (hasServerInfo && r.remaining() >= sizeof serverClockNs) {
    if (!r.get(serverClockNs)) return false;
    fencing = true;
    // Sent only when not 0 (encode()): an explicit 0 is no server's, and would not re-encode.
    if (r.remaining() >= sizeof features && (!r.get(features) || features == 0)) return false;
  }
  return true;
}

void FirstClientMessage::encode(Writer &w) const { w.putBytes(addr, addrLen); }
bool FirstClientMessage::decode(Reader &r) {
  size_t n = r.remaining();
  if (n == 0 || n > CLIENT_ADDR_MAX) return false;
  addrLen = n;
  return r.getBytes(addr, n);
}

void ErrorMessage::encode(Writer &w) const { w.putString(message); }
bool ErrorMessage::decode(Reader &r) { return r.getString(message); }

void Ping::encode(Writer &w) const {
  w.put(rdmaSize);
  w.put(eagerSize);
  iov.encode(w);
  w.putBytes(data, eagerSize);
}
bool Ping::decode(Reader &r) {
  if (!(r.get(rdmaSize) && r.get(eagerSize) && iov.decode(r))) return false;
  return eagerSize <= EAGER_MAX && r.view(data, eagerSize);
}

void TcpHandshake::encode(Writer &w) const {
  w.put(version);
  w.put(clientId);
  w.put(clientKey);
  w.putBool(keepConnection);
}
bool TcpHandshake::decode(Reader &r) {
  return r.get(version) && r.get(clientId) && r.get(clientKey) && r.getBool(keepConnection);
}

}  // namespace proto
}  // namespace ioc
