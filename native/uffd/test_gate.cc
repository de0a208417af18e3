// Test builds only (test_gate.h).
#ifdef IOC_FAILPOINTS_ENABLED
#include "test_gate.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace ummap {
namespace {

std::mutex gateMutex;
std::condition_variable gateChanged;

// Where a thread stops until the test releases it; the test can wait until it stopped. Its
// fields are guarded by gateMutex.
struct Pause {
  bool paused = false, released = false;

  void arm() { paused = released = false; }
  // The stopping thread, holding gateMutex.
  void hold(std::unique_lock<std::mutex>& lock) {
    paused = true;
    gateChanged.notify_all();
    gateChanged.wait(lock, [this] { return released; });
    paused = false;
  }
  bool waitPaused(unsigned timeoutMs) {
    std::unique_lock<std::mutex> lock(gateMutex);
    return gateChanged.wait_for(lock, std::chrono::milliseconds(timeoutMs), [this] { return paused; });
  }
  // Holding gateMutex.
  void release() {
    released = true;
    gateChanged.notify_all();
  }
};

std::atomic<bool> armed{false};
size_t pauseAfter = 0;
Pause writeBackPause;

std::atomic<bool> raArmed{false};
size_t raSegment = 0;
int raPhase = 0, raFailWith = 0;
Pause readAheadPause;

}  // namespace

void testGateArm(size_t afterPieces) {
  std::lock_guard<std::mutex> lock(gateMutex);
  pauseAfter = afterPieces;
  writeBackPause.arm();
  armed = true;
}

bool testGateArmed() { return armed.load(); }

void testGateAfterPiece(size_t written) {
  if (!armed.load()) return;
  std::unique_lock<std::mutex> lock(gateMutex);
  if (!armed || written != pauseAfter) return;
  armed = false;  // one pause per arming
  writeBackPause.hold(lock);
}

bool testGateWaitPaused(unsigned timeoutMs) { return writeBackPause.waitPaused(timeoutMs); }

void testGateRelease() {
  std::lock_guard<std::mutex> lock(gateMutex);
  armed = false;
  writeBackPause.release();
}

void testReadAheadArm(size_t segment, int phase, int failWith) {
  std::lock_guard<std::mutex> lock(gateMutex);
  raSegment = segment;
  raPhase = phase;
  raFailWith = failWith;
  readAheadPause.arm();
  raArmed = true;
}

void testReadAheadPoint(size_t segment, int phase, long* got) {
  if (!raArmed.load()) return;
  std::unique_lock<std::mutex> lock(gateMutex);
  if (!raArmed || segment != raSegment) return;
  if (phase == kAfterRead && raFailWith) {
    *got = raFailWith;
    raFailWith = 0;
  }
  if (phase == raPhase) readAheadPause.hold(lock);
  if (phase >= raPhase && !raFailWith) raArmed = false;  // one pause and one failure per arming
}

bool testReadAheadWaitPaused(unsigned timeoutMs) { return readAheadPause.waitPaused(timeoutMs); }

void testReadAheadRelease() {
  std::lock_guard<std::mutex> lock(gateMutex);
  if (!readAheadPause.paused) raArmed = false;  // cleanup after a test: nothing left armed
  readAheadPause.release();
}

}  // namespace ummap

#endif  // IOC_FAILPOINTS_ENABLED
