// Test hook (addon exports umapTestPauseWriteBack / umapTestWaitPaused / umapTestReleaseWriteBack):
// stops the next asynchronous write-back after it has written a chosen number of its pieces,
// until the test releases it, so that a test can write into the mapping at that exact point
// instead of racing the write-back with sleeps. Disarmed, it costs one atomic load per piece.
// Test builds only (IOC_FAILPOINTS_ENABLED): in a release build the points are empty inlines.
#pragma once

#include <cstddef>

namespace ummap {

enum ReadAheadPhase { kBeforeRead = 0, kAfterRead = 1, kInstalled = 2 };

#ifndef IOC_FAILPOINTS_ENABLED
inline bool testGateArmed() { return false; }
inline void testGateAfterPiece(size_t) {}
inline void testReadAheadPoint(size_t, int, long* = nullptr) {}
#else

// Arm: the next asynchronous write-back pauses once it has written afterPieces pieces, and
// writes its pieces one at a time (so which ones are written at the pause is known).
void testGateArm(size_t afterPieces);
bool testGateArmed();
// Called by the write-back after each piece it wrote (written: how many so far).
void testGateAfterPiece(size_t written);
// Test side: wait until a write-back is paused (false after timeoutMs), then release it.
bool testGateWaitPaused(unsigned timeoutMs);
void testGateRelease();

// Read-ahead gate (addon exports umapTestPauseReadAhead / umapTestWaitReadAheadPaused /
// umapTestReleaseReadAhead): the next read-ahead of `segment` (of any mapping) stops at `phase`
// until released: kBeforeRead, kAfterRead (its last piece read, not installed) or kInstalled (its UFFDIO_COPY
// done, not yet accounted; unmap and stats wait for it). With failWith (a negative errno) its
// last piece's read reports that error (earlier pieces are installed). Lets a test unmap, kill the server, write or fail a read at that
// exact point. Disarmed, one atomic load per point.
void testReadAheadArm(size_t segment, int phase, int failWith);
// Called by the reader at each phase; got (the read's result, may be replaced) at kAfterRead.
void testReadAheadPoint(size_t segment, int phase, long* got = nullptr);
bool testReadAheadWaitPaused(unsigned timeoutMs);
void testReadAheadRelease();
#endif

}  // namespace ummap
