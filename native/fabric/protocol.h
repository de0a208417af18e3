// iocatcher wire protocol v2: message numbers, payload layouts and the one codec for them.
//
// Encoding (compatible with the original iocatcher): native endian, fields packed one after the
// other with no padding, bool = 1 byte, string = uint64 length (with NUL) + bytes, data blobs
// inline. Every message starts with the 32-byte Header. Decoding is bounds-checked: a truncated
// message, trailing bytes, or a field larger than its limit make decode() return false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace ioc {
namespace proto {

constexpr int32_t PROTOCOL_VERSION = 2;
constexpr uint16_t DEFAULT_PORT = 8556;          // libfabric port; TCP side channel is port+1
constexpr size_t EAGER_MAX = 32 * 1024;           // data of at most this travels inline
constexpr size_t MSG_BUFFER_SIZE = EAGER_MAX + 4096;  // largest message on the wire
constexpr size_t CLIENT_ADDR_MAX = 256;           // original sends 32; longer names (shm) allowed
constexpr size_t STRING_MAX = 4096;

enum MsgType : uint64_t {
  CONNECT_INIT = 0,
  ASSIGN_ID = 1,
  BAD_AUTH = 2,
  FATAL_ERROR = 3,
  // Extension (not in the original): the server's reply to a request it cannot serve at all (a
  // message type it does not know); payload Response with a negative status (-ENOSYS).
  ERROR_ACK = 4,
  PING = 10,
  PONG = 11,
  OBJ_READ = 100,
  OBJ_WRITE = 101,
  READ_WRITE_ACK = 102,
  FLUSH = 103,
  FLUSH_ACK = 104,
  CREATE = 105,
  CREATE_ACK = 106,
  RANGE_REGISTER = 107,
  RANGE_REGISTER_ACK = 108,
  RANGE_UNREGISTER = 109,
  RANGE_UNREGISTER_ACK = 110,
  COW = 111,
  COW_ACK = 112,
  // Extension, the object namespace (not in the original; sent only to a server whose ASSIGN_ID
  // lists FEATURE_NAMESPACE). Replies are a Response whose inline data is an ObjectStat
  // (OBJ_STAT_ACK) or a ListPage (OBJ_LIST_ACK); OBJ_DELETE_ACK carries none.
  OBJ_STAT = 113,
  OBJ_STAT_ACK = 114,
  OBJ_LIST = 115,
  OBJ_LIST_ACK = 116,
  OBJ_DELETE = 117,
  OBJ_DELETE_ACK = 118,
  // Extension: several small writes into one object in one message (WritePieces), answered by a
  // READ_WRITE_ACK; sent only to a server whose ASSIGN_ID lists FEATURE_WRITE_PIECES. A
  // checkpoint's scattered dirty pages cost a message per 32 KiB instead of one per page.
  OBJ_WRITE_PIECES = 119,
};

// Extension: what a server of ours can do beyond the original protocol, a bit set sent in
// ASSIGN_ID (FirstHandshake::features).
enum Feature : uint64_t {
  FEATURE_NAMESPACE = 1,     // OBJ_STAT, OBJ_LIST, OBJ_DELETE
  FEATURE_ERROR_REASON = 2,  // error replies may carry a ReplyReason
  FEATURE_WRITE_PIECES = 4,  // OBJ_WRITE_PIECES
};

const char *msgTypeName(uint64_t type);

// Append-only writer into a caller's buffer; ok() is false once anything did not fit.
class Writer {
 public:
  Writer(void *buf, size_t cap) : buf_(static_cast<char *>(buf)), cap_(cap) {}
  template <class T> void put(const T &v) { putBytes(&v, sizeof(T)); }
  void putBool(bool v) { uint8_t b = v ? 1 : 0; putBytes(&b, 1); }
  void putBytes(const void *p, size_t n);
  void putString(const std::string &s);
  size_t size() const { return pos_; }
  bool ok() const { return ok_; }

 private:
  char *buf_;
  size_t cap_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Bounds-checked reader; every get returns false (and latches failure) past the end.
class Reader {
 public:
  Reader(const void *buf, size_t len) : buf_(static_cast<const char *>(buf)), len_(len) {}
  template <class T> bool get(T &v) { return getBytes(&v, sizeof(T)); }
  bool getBool(bool &v);
  bool getBytes(void *p, size_t n);
  // Points into the buffer instead of copying (for inline data).
  bool view(const char *&p, size_t n);
  bool getString(std::string &s, size_t maxLen = STRING_MAX);
  size_t remaining() const { return ok_ ? len_ - pos_ : 0; }
  // True when everything was read and nothing is left over.
  bool done() const { return ok_ && pos_ == len_; }
  bool ok() const { return ok_; }

 private:
  const char *buf_;
  size_t len_;
  size_t pos_ = 0;
  bool ok_ = true;
};

struct Header {
  uint64_t msgType = 0;
  uint64_t lfClientId = 0;
  uint64_t tcpClientId = 0;
  uint64_t tcpClientKey = 0;
  static constexpr size_t WIRE_SIZE = 32;
  void encode(Writer &w) const;
  bool decode(Reader &r);
  // Replies from our server echo their request's sequence (RequestTrailer) in the two fields a
  // server->client header leaves unused (the original client ignores them): tcpClientId holds
  // ECHO_MARKER, tcpClientKey the sequence. A sequence of 0 means "no echo".
  static constexpr uint64_t ECHO_MARKER = 0x4f484345434f4921ull;  // "!IOCECHO"
  void setEcho(uint64_t sequence) {
    tcpClientId = sequence ? ECHO_MARKER : 0;
    tcpClientKey = sequence;
  }
  bool echo(uint64_t &sequence) const {
    if (tcpClientId != ECHO_MARKER) return false;
    sequence = tcpClientKey;
    return true;
  }
};

// Extension: 16 bytes a client may append after a request's payload, so that the reply can be
// matched to its request. The original server decodes the fields in order and ignores what
// follows; ours takes the last 16 bytes as a trailer only when they start with MAGIC and begin
// exactly where the payload, decoded by its type, ends (payloads are self-delimiting: an
// original client's message never matches). Not on CONNECT_INIT (its payload is the rest of
// the message).
struct RequestTrailer {
  static constexpr uint64_t MAGIC = 0x5145534f43494f21ull;  // the bytes "!OICOSEQ" (little-endian)
  static constexpr size_t WIRE_SIZE = 16;
  uint64_t sequence = 0;
  void encode(Writer &w) const;
};

// Extension (fencing): 16 bytes a client puts between a write's payload and its RequestTrailer,
// only towards a server whose ASSIGN_ID said it takes them (FirstHandshake::fencing; never to
// an original server): the request's deadline on the server's clock (nanoseconds of its
// CLOCK_BOOTTIME), computed so that it is never later than the client's own deadline. A
// server applies nothing of the request after it (it answers ETIMEDOUT instead).
struct RequestDeadline {
  static constexpr uint64_t MAGIC = 0x4c444145444f4921ull;  // "!IODEADL"
  static constexpr size_t WIRE_SIZE = 16;
  int64_t serverNs = 0;
  void encode(Writer &w) const;
};

// The length of a received message without its trailer (len itself when it has none); sets
// sequence to the trailer's, or 0. With deadlineNs: also takes a RequestDeadline found between
// the payload and the trailer (deadlineNs is 0 when there is none).
size_t splitRequestTrailer(const char *msg, size_t len, uint64_t &sequence, int64_t *deadlineNs = nullptr);

struct ObjectId {
  int64_t low = 0;
  int64_t high = 0;
  bool operator==(const ObjectId &o) const { return low == o.low && high == o.high; }
  bool operator<(const ObjectId &o) const { return high != o.high ? high < o.high : low < o.low; }
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct Iov {
  uint64_t addr = 0;
  uint64_t key = 0;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct ReadWrite {
  ObjectId objectId;
  Iov iov;
  uint64_t offset = 0;
  uint64_t size = 0;
  bool msgHasData = false;
  const char *data = nullptr;  // size bytes inline when msgHasData (view into the message)
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct Flush {
  ObjectId objectId;
  uint64_t offset = 0;
  uint64_t size = 0;  // 0 = whole object
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct Create {
  ObjectId objectId;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct RegisterRange {
  ObjectId objectId;
  uint64_t offset = 0;
  uint64_t size = 0;
  bool write = false;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct UnregisterRange {
  ObjectId objectId;
  uint64_t offset = 0;
  uint64_t size = 0;
  int32_t id = 0;
  bool write = false;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct Cow {
  ObjectId src;
  ObjectId dst;
  bool allowExist = false;
  uint64_t rangeOffset = 0;
  uint64_t rangeSize = 0;  // 0 = whole object
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct Response {
  uint64_t msgDataSize = 0;
  int32_t status = 0;
  bool msgHasData = false;
  const char *data = nullptr;  // msgDataSize bytes inline when msgHasData
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

// OBJ_WRITE_PIECES: writes of one object, each (offset, size), then their bytes one after the
// other, inline: at most MAX_PIECES pieces and EAGER_MAX bytes in all, none empty. Applied as
// that many OBJ_WRITEs would be, acknowledged together (the status, and the bytes written).
struct WritePieces {
  static constexpr uint32_t MAX_PIECES = 256;
  struct Piece {
    uint64_t offset = 0;
    uint32_t size = 0;
    const char *data = nullptr;  // encode: its bytes; decode: a view into the message
  };
  ObjectId objectId;
  std::vector<Piece> pieces;
  uint64_t totalBytes() const;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

// Extension: appended by our server after the Response of a failed request when it knows why
// (e.g. "larger than --max-transfer 4GB", "store: Permission denied"). The original client
// decodes the Response and ignores what follows; ours decodes it with decodeResponse().
struct ReplyReason {
  static constexpr uint64_t MAGIC = 0x3a5948574f43492full;  // the bytes "/ICOWHY:" (little-endian)
  static constexpr size_t MAX = 512;
  std::string reason;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

// A reply payload: the Response, then an optional ReplyReason, nothing else.
bool decodeResponse(Reader &r, Response &out, std::string *reason = nullptr);

// OBJ_STAT and OBJ_DELETE: the object.
struct ObjectRequest {
  ObjectId objectId;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

// What the server knows of one object (OBJ_STAT_ACK's data, one entry of a ListPage).
// size: the logical size (end of the highest byte written, or the stored size); storedBytes:
// the size of the store's object (0: not stored); cachedBytes/dirtyBytes: in the cache, and
// of those not yet in the store.
struct ObjectStat {
  ObjectId objectId;
  uint64_t size = 0;
  uint64_t storedBytes = 0;
  uint64_t cachedBytes = 0;
  uint64_t dirtyBytes = 0;
  bool stored = false;  // the store holds the object (possibly empty)
  static constexpr size_t WIRE_SIZE = 16 + 4 * 8 + 1;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

// OBJ_LIST: at most maxEntries objects after cursor (empty: from the start), only those whose
// high half is `high` when filterHigh. The cursor is the server's (opaque to clients).
struct ListRequest {
  static constexpr size_t CURSOR_MAX = 1024;
  std::string cursor;
  bool filterHigh = false;
  int64_t high = 0;
  uint32_t maxEntries = 0;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

// OBJ_LIST_ACK's data. A page may hold fewer entries than asked, even none, without being the
// last; `end` says the listing is complete; `next` is the cursor for the following page.
// A listing has two phases, told apart by the cursor: the cache's objects first, then the
// store's; an object cached when the first phase passed it and stored later appears in both,
// and the client drops the second (ListPage::fromStore says which phase a page is of).
struct ListPage {
  // Entries that fit a reply's inline data with the rest of the page.
  static constexpr uint32_t MAX_ENTRIES = (EAGER_MAX - 2 * ListRequest::CURSOR_MAX) / ObjectStat::WIRE_SIZE;
  bool end = false;
  bool fromStore = false;
  std::string next;
  std::vector<ObjectStat> entries;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct FirstHandshake {
  int32_t protocolVersion = PROTOCOL_VERSION;
  uint64_t assignLfClientId = 0;
  // Our extension, appended after the original payload (original clients ignore trailing
  // bytes; original servers send none, hasServerInfo false): the server's start epoch (random
  // per start, never 0) and whether acknowledged writes survive its restart (--nvdimm).
  bool hasServerInfo = false;
  uint64_t serverEpoch = 0;
  bool durableWrites = false;
  // Appended after the server info by servers that fence writes (RequestDeadline): the
  // server's CLOCK_BOOTTIME in nanoseconds when it sent this message. Older
  // iocatcher-ts servers send none (fencing false); their clients ignore it.
  bool fencing = false;
  int64_t serverClockNs = 0;
  // Appended after the clock (so only with fencing): the Feature bits; 0 when absent.
  uint64_t features = 0;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct FirstClientMessage {
  static constexpr size_t ORIGINAL_ADDR_SIZE = 32;
  char addr[CLIENT_ADDR_MAX] = {0};
  size_t addrLen = ORIGINAL_ADDR_SIZE;  // on the wire: the rest of the message
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct ErrorMessage {
  std::string message;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

struct Ping {
  uint64_t rdmaSize = 0;
  uint64_t eagerSize = 0;
  Iov iov;
  const char *data = nullptr;  // eagerSize bytes inline
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

// TCP side channel greeting, written by the server on accept.
// The greeting of a server that refuses a client (--max-clients): id all ones, key 0, no kept
// connection. The original numbers its clients from 0 upward and never sends it, so every
// other greeting, id 0 included, is a normal one.
constexpr uint64_t TCP_REFUSED_CLIENT_ID = ~uint64_t(0);

struct TcpHandshake {
  bool isRefusal() const { return clientId == TCP_REFUSED_CLIENT_ID && clientKey == 0 && !keepConnection; }
  int16_t version = PROTOCOL_VERSION;
  uint64_t clientId = 0;
  uint64_t clientKey = 0;
  bool keepConnection = true;
  static constexpr size_t WIRE_SIZE = 2 + 8 + 8 + 1;
  void encode(Writer &w) const;
  bool decode(Reader &r);
};

// Encode header + payload into buf; returns the size, or 0 when it does not fit.
template <class Payload>
size_t encodeMessage(void *buf, size_t cap, const Header &h, const Payload &p) {
  Writer w(buf, cap);
  h.encode(w);
  p.encode(w);
  return w.ok() ? w.size() : 0;
}

// Decode a payload that must fill the rest of the reader exactly.
template <class Payload>
bool decodePayload(Reader &r, Payload &p) {
  return p.decode(r) && r.done();
}

}  // namespace proto
}  // namespace ioc
