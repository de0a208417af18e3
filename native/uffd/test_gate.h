// Test hook (addon exports umapTestPauseWriteBack / umapTestWaitPaused / umapTestReleaseWriteBack):
// stops the next asynchronous write-back after it has written a chosen number of its pieces,
// until the test releases it, so that a test can write into the mapping at that exact point
// instead of racing the write-back with sleeps. Disarmed, it costs one atomic load per piece.
#pragma once

#include <cstddef>

namespace ummap {

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
// umapTestReleaseReadAhead): the next read-ahead of `segment` (of any mapping) stops before its
// driver read (afterRead false) or after it, before the install, until released; with failWith
// (a negative errno) its read then reports that error. Lets a test unmap, kill the server or
// fail a read at that exact point. Disarmed, one atomic load per read-ahead.
void testReadAheadArm(size_t segment, bool afterRead, int failWith);
// Called by the reader before (got == nullptr) and after its read; may replace *got.
void testReadAheadPoint(size_t segment, long* got);
bool testReadAheadWaitPaused(unsigned timeoutMs);
void testReadAheadRelease();

}  // namespace ummap
