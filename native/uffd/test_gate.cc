// Test builds only (test_gate.h).
#ifdef IOC_FAILPOINTS_ENABLED
#include "test_gate.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace ummap {
namespace {

std::atomic<bool> armed{false};
std::mutex gateMutex;
std::condition_variable gateChanged;
size_t pauseAfter = 0;
bool paused = false, released = false;

}  // namespace

void testGateArm(size_t afterPieces) {
  std::lock_guard<std::mutex> lock(gateMutex);
  pauseAfter = afterPieces;
  paused = released = false;
  armed = true;
}

bool testGateArmed() { return armed.load(); }

void testGateAfterPiece(size_t written) {
  if (!armed.load()) return;
  std::unique_lock<std::mutex> lock(gateMutex);
  if (!armed || written != pauseAfter) return;
  armed = false;  // one pause per arming
  paused = true;
  gateChanged.notify_all();
  gateChanged.wait(lock, [] { return released; });
  paused = false;
}

bool testGateWaitPaused(unsigned timeoutMs) {
  std::unique_lock<std::mutex> lock(gateMutex);
  return gateChanged.wait_for(lock, std::chrono::milliseconds(timeoutMs), [] { return paused; });
}

void testGateRelease() {
  std::lock_guard<std::mutex> lock(gateMutex);
  released = true;
  armed = false;
  gateChanged.notify_all();
}

namespace {
std::atomic<bool> raArmed{false};
size_t raSegment = 0;
int raPhase = 0, raFailWith = 0;
bool raPaused = false, raReleased = false;
}  // namespace

void testReadAheadArm(size_t segment, int phase, int failWith) {
  std::lock_guard<std::mutex> lock(gateMutex);
  raSegment = segment;
  raPhase = phase;
  raFailWith = failWith;
  raPaused = raReleased = false;
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
  if (phase == raPhase) {
    raPaused = true;
    gateChanged.notify_all();
    gateChanged.wait(lock, [] { return raReleased; });
    raPaused = false;
  }
  if (phase >= raPhase && !raFailWith) raArmed = false;  // one pause and one failure per arming
}

bool testReadAheadWaitPaused(unsigned timeoutMs) {
  std::unique_lock<std::mutex> lock(gateMutex);
  return gateChanged.wait_for(lock, std::chrono::milliseconds(timeoutMs), [] { return raPaused; });
}

void testReadAheadRelease() {
  std::lock_guard<std::mutex> lock(gateMutex);
  raReleased = true;
  if (!raPaused) raArmed = false;  // cleanup after a test: nothing left armed
  gateChanged.notify_all();
}

}  // namespace ummap

#endif  // IOC_FAILPOINTS_ENABLED
