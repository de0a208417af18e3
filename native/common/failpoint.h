// Failpoints: named places in the code where a test makes a fault or a race happen on purpose,
// configured in one place, the environment variable IOC_FAILPOINTS, read once:
//
//   IOC_FAILPOINTS="NAME=SPEC;NAME=SPEC"       SPEC: [TRIGGER:]ACTION, or TRIGGER alone (:on)
//   TRIGGER  after(N)   fires on the N-th evaluation only
//            first(N)   fires on the first N evaluations
//            (none)     fires on every evaluation
//   ACTION   on         fires: the code does what the point is for (a persona, a hold)
//            off        never fires
//            value(N)   the code reads N (a size, a count)
//            sleep(MS)  sleeps MS milliseconds where it fires
//            pause(PATH) blocks while the file PATH exists (the test removes it to release)
//            kill       the process SIGKILLs itself; sigterm: sends itself SIGTERM
//            error(E)   the code fails with -E (E: a number or a name such as EIO)
//
// The names are in failpoint_list.h; an unknown name, a bad spec or an action the point does not
// take is an error at start, and each active failpoint is logged at start.
//
// Compiled only into test builds (CMake IOC_BUILD_TOOLS=ON defines IOC_FAILPOINTS_ENABLED). In a
// release build every point is a constant that never fires, the code under IOC_FAILPOINTS_ONLY
// and #ifdef IOC_FAILPOINTS_ENABLED is gone, and no failpoint name is in the binary.
#pragma once

namespace ioc {
namespace fail {

// What an evaluation gave: whether the point fired, and value(N)'s N or error(E)'s -E.
struct Hit {
  bool fired = false;
  long long value = 0;
  explicit operator bool() const { return fired; }
};

#ifdef IOC_FAILPOINTS_ENABLED

enum class Point {
#define IOC_FAILPOINT_DEF(id, name, actions, doc) id,
#include "common/failpoint_list.h"
#undef IOC_FAILPOINT_DEF
  count_
};

// Evaluates a point: counts the evaluation, and when it fires runs the generic actions (sleep,
// pause, kill, sigterm: logged with `context`, a printf format, when given).
Hit evaluate(Point p, const char *context = nullptr, ...) __attribute__((format(printf, 2, 3)));
// value(N)'s N when the point is configured so, else 0; not an evaluation.
long long configuredValue(Point p);
bool configured(Point p);
// Reads IOC_FAILPOINTS (once) and logs the active failpoints (once) through logLine (nullptr:
// stderr, prefixed with `who`; error: the line reports a wrong variable). False when the
// variable is wrong: the process must not go on (a typo would silently test nothing).
bool start(const char *who, void (*logLine)(bool error, const char *line) = nullptr);

#define IOC_FAILPOINT(id) (::ioc::fail::evaluate(::ioc::fail::Point::id))
#define IOC_FAILPOINT_AT(id, ...) (::ioc::fail::evaluate(::ioc::fail::Point::id, __VA_ARGS__))
#define IOC_FAILPOINT_VALUE(id) (::ioc::fail::configuredValue(::ioc::fail::Point::id))
#define IOC_FAILPOINT_CONFIGURED(id) (::ioc::fail::configured(::ioc::fail::Point::id))
#define IOC_FAILPOINTS_ONLY(...) __VA_ARGS__

#else

#define IOC_FAILPOINT(id) (::ioc::fail::Hit{})
#define IOC_FAILPOINT_AT(id, ...) (::ioc::fail::Hit{})
#define IOC_FAILPOINT_VALUE(id) (0LL)
#define IOC_FAILPOINT_CONFIGURED(id) (false)
#define IOC_FAILPOINTS_ONLY(...)

#endif

}  // namespace fail
}  // namespace ioc
