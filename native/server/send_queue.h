// The server's send path. Nothing here waits for a peer: acquire() always returns a slot (the
// spare, unregistered one when none is free and no more may be added), and post() sends it at
// once or queues its message for its peer; pump() posts queued messages as completions free
// slots. A peer that does not take its messages (a stopped client, a forged CONNECT_INIT
// address) holds at most MAX_POSTED_PER_PEER slots and MAX_WAITING_PER_PEER queued messages;
// when its oldest message is older than the give-up time or its queue is full, it is given up:
// its messages are dropped and the owner is told (onGiveUp) to forget its connections.
// Fabric thread only.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "fabric/fabric.h"
#include "server/fabric_op.h"

namespace ioc {
namespace server {

class SendQueue {
 public:
  using Clock = std::chrono::steady_clock;
  struct Slot : FabricOp {
    char *buf;
    void *desc = nullptr;  // of the slot's chunk (FI_MR_LOCAL)
    fi_addr_t peer = FI_ADDR_UNSPEC;  // while posted
    Clock::time_point postedAt;
    bool spare = false;      // the unregistered overflow slot: its message is always queued
    bool abandoned = false;  // posted to a peer given up: back to the free list on completion
  };
  // nextMrKey: a fresh memory-registration key; giveUpAfter: how long a peer may leave its
  // oldest message untaken; onGiveUp(peer): a peer was given up.
  SendQueue(fabric::Transport &transport, std::function<uint64_t()> nextMrKey, std::chrono::seconds giveUpAfter,
            std::function<void(fi_addr_t)> onGiveUp);
  Slot *acquire();
  void release(Slot *slot);
  // Send len bytes of the slot's buffer to peer (or queue them); the slot is the queue's again.
  void post(Slot *slot, size_t len, fi_addr_t peer);
  void onCompletion(Slot *slot, int error);
  // Posts waiting messages into free slots; gives up peers stuck too long.
  void pump();
  // A message waits because the provider said EAGAIN: pump again within milliseconds.
  bool retrySoon() const { return retrySoon_; }
  // Some message is posted and not completed, or waits.
  bool busy() const;
  bool anyPosted() const;
  // At shutdown: nothing is sent any more (the endpoint may be closed).
  void close() { closed_ = true; }

 private:
  // Outgoing messages of one peer that wait for a slot or for the provider (EAGAIN), in order.
  struct PeerSends {
    std::deque<std::pair<Clock::time_point, std::vector<char>>> waiting;
    size_t posted = 0;  // sends posted and not completed
  };
  // Send slots come in chunks (one buffer + MR each), added while peers hold the ones posted.
  struct Chunk {
    std::unique_ptr<char[]> buf;
    fabric::MemoryRegion mr;
    std::vector<Slot> slots;
  };
  bool addSlots();
  void queue(Slot *slot, size_t len, fi_addr_t peer);
  size_t giveUp(fi_addr_t peer);  // returns how many queued messages it dropped

  fabric::Transport &transport_;
  std::function<uint64_t()> nextMrKey_;
  std::chrono::seconds giveUpAfter_;
  std::function<void(fi_addr_t)> onGiveUp_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
  size_t slots_ = 0;
  std::vector<Slot *> free_;
  Slot spare_;
  std::unique_ptr<char[]> spareBuf_;
  std::map<fi_addr_t, PeerSends> peers_;
  size_t waitingBytes_ = 0;  // queued in every PeerSends
  bool retrySoon_ = false;
  bool closed_ = false;
  Clock::time_point lastScan_;
};

}  // namespace server
}  // namespace ioc
