// ioc://HIGH:LOW: an object of an iocatcher server, through the C client API. One client per
// server address is shared by every mapping of the process (the client is thread-safe), and
// released when its last mapping goes. Range registrations use the same client: its pooled
// connections share one TCP client id, to which the server ties the ranges, so a range may be
// unregistered on another connection than the one that registered it.
#include <errno.h>

#include <mutex>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "iocatcher-client.h"
#include "storage_driver.h"

namespace ummap {
namespace {

class SharedClient {
 public:
  SharedClient(const std::string& host, const std::string& port) {
    client_ = ioc_client_init(host.c_str(), port.c_str());
    if (!client_) throw std::system_error(errno ? errno : ECONNREFUSED, std::generic_category(), "ioc_client_init " + host + ":" + port);
  }
  ~SharedClient() { ioc_client_fini(client_); }
  ioc_client_t* get() const { return client_; }

 private:
  ioc_client_t* client_;
};

std::mutex clientsMutex;
std::map<std::string, std::weak_ptr<SharedClient>> clients;

std::shared_ptr<SharedClient> clientFor(const std::string& host, const std::string& port) {
  std::lock_guard<std::mutex> lock(clientsMutex);
  auto& slot = clients[host + ":" + port];
  auto client = slot.lock();
  if (!client) {
    client = std::make_shared<SharedClient>(host, port);
    slot = client;
  }
  return client;
}

int64_t parseI64(const std::string& text, const char* what) {
  size_t used = 0;
  long long v = std::stoll(text, &used, 0);
  if (used != text.size()) throw std::invalid_argument(std::string("bad ") + what + " '" + text + "'");
  return v;
}

class IocDriver : public StorageDriver {
 public:
  IocDriver(std::shared_ptr<SharedClient> client, std::string address, int64_t high, int64_t low)
      : client_(std::move(client)), address_(std::move(address)), high_(high), low_(low) {}
  ~IocDriver() override { detach(); }

  ssize_t read(void* buf, size_t size, uint64_t offset) override {
    return ioc_client_obj_read(client_->get(), high_, low_, buf, size, offset);
  }
  // A write-back or sync that met a connection the server closed (it restarted) is tried again:
  // a transport reset is no answer, and the mapping's writes are idempotent (same bytes, same
  // place, under the mapping's lock). Each reset drops one pooled connection, so at most one
  // retry per pooled connection, then a new one.
  template <class Call>
  static int64_t retryReset(Call&& call) {
    int64_t ret = call();
    for (int i = 0; ret == -ECONNRESET && i < IOC_CLIENT_MAX_CONNECTIONS; i++) ret = call();
    return ret;
  }
  ssize_t write(const void* buf, size_t size, uint64_t offset) override {
    return retryReset([&] { return ioc_client_obj_write(client_->get(), high_, low_, buf, size, offset); });
  }
  // Small pieces travel together, up to an eager message's data (ioc_client_obj_write_pieces).
  int writeGathered(const Piece* pieces, size_t n) override {
    std::vector<ioc_write_piece_t> c(n);
    for (size_t i = 0; i < n; i++) c[i] = {pieces[i].buf, pieces[i].size, pieces[i].offset};
    int64_t ret = retryReset([&] { return ioc_client_obj_write_pieces(client_->get(), high_, low_, c.data(), n); });
    return ret < 0 ? static_cast<int>(ret) : 0;
  }
  size_t gatherBytes() const override { return size_t{32} << 10; }
  // Four gathered messages in flight hide most of each one's round trip; more add little.
  unsigned gatherParallelism() const override { return 4; }
  // Two 64 MiB pieces in flight: one keeps the wire busy while the other is copied; more, or
  // smaller, pieces add connections and wake-ups beside the server. Each piece in flight
  // leases its own pooled connection.
  size_t writePieceBytes() const override { return size_t{64} << 20; }
  unsigned writeParallelism() const override { return 2; }
  // Each read-ahead reader leases its own pooled connection: while one segment is installed,
  // the next one is on the wire. More than two mostly add wake-ups and client spins beside the
  // server.
  unsigned readAheadReaders() const override { return 2; }
  int sync(uint64_t offset, size_t size) override {
    return static_cast<int>(retryReset([&] { return ioc_client_obj_flush(client_->get(), high_, low_, offset, size); }));
  }
  uint64_t volatileEpoch() override {
    int durable = 0;
    uint64_t epoch = ioc_client_server_epoch(client_->get(), high_, low_, &durable);
    return durable ? 0 : epoch;
  }
  int copyRangeTo(StorageDriver& dest, uint64_t offset, size_t size, bool allowExist) override {
    auto* other = dynamic_cast<IocDriver*>(&dest);
    if (!other || other->client_ != client_) return 0;  // other server or store: generic copy
    int ret = ioc_client_obj_cow(client_->get(), high_, low_, other->high_, other->low_, allowExist, offset, size);
    return ret < 0 ? ret : 1;
  }
  int attach(uint64_t offset, size_t size, bool write) override {
    int32_t id = ioc_client_obj_range_register(client_->get(), high_, low_, offset, size, write);
    if (id == -EBUSY) return id;  // another writer maps an overlapping range
    if (id > 0) {
      rangeId_ = id;
      rangeOffset_ = offset;
      rangeSize_ = size;
      rangeWrite_ = write;
    }
    return 0;  // other errors: the server does not check consistency; map anyway
  }
  void detach() override {
    if (rangeId_ > 0) ioc_client_obj_range_unregister(client_->get(), rangeId_, high_, low_, rangeOffset_, rangeSize_, rangeWrite_);
    rangeId_ = 0;
  }
  int64_t objectSize(std::string& why) override {
    ioc_obj_stat_t st;
    int ret = ioc_client_obj_stat(client_->get(), high_, low_, &st);
    if (ret < 0) {
      why = ioc_client_last_error(client_->get());
      return ret;
    }
    return st.size > (uint64_t)INT64_MAX ? -EOVERFLOW : (int64_t)st.size;
  }
  std::string describe() const override {
    return "ioc://" + std::to_string(high_) + ":" + std::to_string(low_) + "@" + address_;
  }

 private:
  std::shared_ptr<SharedClient> client_;
  std::string address_;
  int64_t high_, low_;
  int32_t rangeId_ = 0;
  uint64_t rangeOffset_ = 0;
  size_t rangeSize_ = 0;
  bool rangeWrite_ = false;
};

}  // namespace

std::shared_ptr<StorageDriver> createIocDriver(const DriverParams& params) {
  const std::string& host = requireParam(params, "host");
  const std::string& port = requireParam(params, "port");
  int64_t high = parseI64(requireParam(params, "high"), "object id high");
  int64_t low = parseI64(requireParam(params, "low"), "object id low");
  return std::make_shared<IocDriver>(clientFor(host, port), host + ":" + port, high, low);
}

}  // namespace ummap
