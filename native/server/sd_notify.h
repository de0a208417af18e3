// systemd's service notification (Type=notify) without libsystemd: one datagram to the unix
// socket named by $NOTIFY_SOCKET ('@' for the abstract namespace). Nothing when it is unset.
#pragma once

namespace ioc {
namespace server {

// Sends `state` ("READY=1", "STOPPING=1", "STATUS=...", newline-separated); false on failure
// (logged as a warning: systemd then reports the start as timed out, which names the cause).
bool sdNotify(const char *state);

}  // namespace server
}  // namespace ioc
