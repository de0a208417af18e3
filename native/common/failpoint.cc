// Failpoints (failpoint.h): the IOC_FAILPOINTS parser, the registry and the generic actions.
// Test builds only: a release build compiles this file to nothing.
#ifdef IOC_FAILPOINTS_ENABLED

#include "common/failpoint.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ioc {
namespace fail {
namespace {

// Which actions a point takes (the third column of failpoint_list.h).
enum Takes { FIRE = 1, VALUE = 2, ERROR = 4 };

struct Def {
  const char *name;
  int takes;
  const char *doc;
};

const Def kDefs[] = {
#define IOC_FAILPOINT_DEF(id, name, actions, doc) {name, actions, doc},
#include "common/failpoint_list.h"
#undef IOC_FAILPOINT_DEF
};
constexpr size_t kCount = static_cast<size_t>(Point::count_);
static_assert(sizeof kDefs / sizeof kDefs[0] == kCount, "one definition per point");

enum class Action { Off, On, Value, Sleep, Pause, Kill, Sigterm, Error };
enum class Trigger { Always, After, First };

struct Config {
  bool set = false;
  Action action = Action::Off;
  Trigger trigger = Trigger::Always;
  long long n = 0;    // after(N) / first(N)
  long long arg = 0;  // value(N), sleep(MS), error(E)
  std::string path;   // pause(PATH)
  std::string spec;   // as written, for the log
  std::atomic<long long> evaluations{0};
};

struct Registry {
  Config points[kCount];
  std::string error;  // the first problem in IOC_FAILPOINTS; empty when it is right
};

const struct {
  const char *name;
  int value;
} kErrnos[] = {{"EIO", EIO},         {"ENOSPC", ENOSPC},   {"ENOMEM", ENOMEM}, {"EAGAIN", EAGAIN},
               {"ETIMEDOUT", ETIMEDOUT}, {"ECONNRESET", ECONNRESET}, {"EPERM", EPERM},
               {"EACCES", EACCES},   {"EINVAL", EINVAL},   {"ENOENT", ENOENT}, {"EROFS", EROFS},
               {"EDQUOT", EDQUOT},   {"EBUSY", EBUSY},     {"EINTR", EINTR}};

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\n"), e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

bool wholeNumber(const std::string &s, long long &out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (!isdigit((unsigned char)c)) return false;
  out = atoll(s.c_str());
  return true;
}

// "fn(ARG)" -> ARG.
bool call(const std::string &s, const char *fn, std::string &arg) {
  size_t n = strlen(fn);
  if (s.size() < n + 2 || s.compare(0, n, fn) != 0 || s[n] != '(' || s.back() != ')') return false;
  arg = s.substr(n + 1, s.size() - n - 2);
  return true;
}

// One action; "" when it is right, else what is wrong.
std::string parseAction(const std::string &s, Config &c) {
  std::string arg;
  if (s == "on") {
    c.action = Action::On;
  } else if (s == "off") {
    c.action = Action::Off;
  } else if (s == "kill") {
    c.action = Action::Kill;
  } else if (s == "sigterm") {
    c.action = Action::Sigterm;
  } else if (call(s, "value", arg)) {
    c.action = Action::Value;
    if (!wholeNumber(arg, c.arg)) return "value(N) takes a whole number";
  } else if (call(s, "sleep", arg)) {
    c.action = Action::Sleep;
    if (!wholeNumber(arg, c.arg) || c.arg > 3600000) return "sleep(MS) takes milliseconds (0-3600000)";
  } else if (call(s, "pause", arg)) {
    c.action = Action::Pause;
    c.path = arg;
    if (arg.empty() || arg[0] != '/') return "pause(PATH) takes an absolute path (the gate file)";
  } else if (call(s, "error", arg)) {
    c.action = Action::Error;
    if (!wholeNumber(arg, c.arg)) {
      c.arg = 0;
      for (const auto &e : kErrnos)
        if (arg == e.name) c.arg = e.value;
    }
    if (c.arg <= 0 || c.arg > 4095) return "error(E) takes an errno: a number or a name such as EIO";
  } else {
    return "unknown action '" + s + "' (on, off, value(N), sleep(MS), pause(PATH), kill, sigterm, error(E))";
  }
  return "";
}

std::string parseSpec(const std::string &spec, Config &c) {
  std::string action = spec, arg;
  if (spec.compare(0, 6, "after(") == 0 || spec.compare(0, 6, "first(") == 0) {
    size_t close = spec.find(')');
    if (close == std::string::npos) return "unclosed trigger";
    c.trigger = spec[0] == 'a' ? Trigger::After : Trigger::First;
    if (!wholeNumber(spec.substr(6, close - 6), c.n) || c.n < 1) return "after(N) and first(N) take N >= 1";
    std::string rest = spec.substr(close + 1);
    if (rest.empty()) {
      action = "on";
    } else if (rest[0] == ':') {
      action = rest.substr(1);
    } else {
      return "a trigger is followed by ':ACTION' or nothing";
    }
  }
  return parseAction(action, c);
}

const char *takesText(int takes) {
  if (takes == VALUE) return "value(N)";
  if (takes == (FIRE | ERROR)) return "on, off, sleep, pause, kill, sigterm or error(E)";
  return "on, off, sleep, pause, kill or sigterm";
}

void parse(const char *text, Registry &r) {
  std::string all = text;
  size_t at = 0;
  while (at <= all.size() && r.error.empty()) {
    size_t end = all.find(';', at);
    if (end == std::string::npos) end = all.size();
    std::string entry = trim(all.substr(at, end - at));
    at = end + 1;
    if (entry.empty()) continue;
    size_t eq = entry.find('=');
    std::string name = trim(entry.substr(0, eq)), spec = eq == std::string::npos ? "" : trim(entry.substr(eq + 1));
    size_t i = 0;
    while (i < kCount && name != kDefs[i].name) i++;
    if (i == kCount) {
      r.error = "unknown failpoint '" + name + "'; known:";
      for (const Def &d : kDefs) r.error += std::string(" ") + d.name;
      return;
    }
    Config &c = r.points[i];
    if (c.set) {
      r.error = "failpoint " + name + " is set twice";
      return;
    }
    if (spec.empty()) {
      r.error = "failpoint " + name + " has no action (NAME=ACTION)";
      return;
    }
    std::string why = parseSpec(spec, c);
    if (!why.empty()) {
      r.error = "failpoint " + name + "=" + spec + ": " + why;
      return;
    }
    int needs = c.action == Action::Value ? VALUE : c.action == Action::Error ? ERROR : FIRE;
    if (!(kDefs[i].takes & needs)) {
      r.error = "failpoint " + name + " takes " + takesText(kDefs[i].takes) + ", not " + spec;
      return;
    }
    c.set = true;
    c.spec = spec;
  }
}

Registry &registry() {
  static Registry *r = [] {
    Registry *reg = new Registry;  // never destroyed: points may be evaluated during exit
    if (const char *text = getenv("IOC_FAILPOINTS")) parse(text, *reg);
    if (!reg->error.empty())
      for (Config &c : reg->points) c.set = false;  // start() reports it; nothing fires meanwhile
    return reg;
  }();
  return *r;
}

std::atomic<void (*)(bool, const char *)> g_logLine{nullptr};
const char *g_who = "iocatcher";

void emit(const std::string &line, bool error = false) {
  if (auto f = g_logLine.load()) return f(error, line.c_str());
  fprintf(stderr, "%s: %s\n", g_who, line.c_str());
}

void note(size_t i, long long evaluation, const char *context, va_list ap, const std::string &what) {
  std::string line = std::string("failpoint ") + kDefs[i].name;
  if (context) {
    char buf[512];
    vsnprintf(buf, sizeof buf, context, ap);
    line += std::string(" (") + buf + ")";
  }
  emit(line + ": " + what + " at evaluation " + std::to_string(evaluation));
}

bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

Hit evaluate(Point p, const char *context, ...) {
  size_t i = static_cast<size_t>(p);
  Config &c = registry().points[i];
  if (!c.set || c.action == Action::Off) return {};
  long long n = ++c.evaluations;
  bool fires = c.trigger == Trigger::Always || (c.trigger == Trigger::After && n == c.n) ||
               (c.trigger == Trigger::First && n <= c.n);
  if (!fires) return {};
  Hit hit;
  hit.fired = true;
  va_list ap;
  va_start(ap, context);
  switch (c.action) {
    case Action::Off:
    case Action::On:
      break;
    case Action::Value:
      hit.value = c.arg;
      break;
    case Action::Error:
      hit.value = -c.arg;
      break;
    case Action::Sleep:
      note(i, n, context, ap, "sleep " + std::to_string(c.arg) + " ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(c.arg));
      break;
    case Action::Pause:
      if (exists(c.path)) {
        note(i, n, context, ap, "paused while " + c.path + " exists");
        while (exists(c.path)) usleep(10000);
      }
      break;
    case Action::Kill:
      note(i, n, context, ap, "SIGKILL");
      kill(getpid(), SIGKILL);
      for (;;) pause();
    case Action::Sigterm:
      note(i, n, context, ap, "SIGTERM");
      kill(getpid(), SIGTERM);
      break;
  }
  va_end(ap);
  return hit;
}

long long configuredValue(Point p) {
  const Config &c = registry().points[static_cast<size_t>(p)];
  return c.set && c.action == Action::Value ? c.arg : 0;
}

bool configured(Point p) {
  const Config &c = registry().points[static_cast<size_t>(p)];
  return c.set && c.action != Action::Off;
}

bool start(const char *who, void (*logLine)(bool error, const char *line)) {
  static std::once_flag once;
  static bool ok = true;
  std::call_once(once, [&] {
    g_who = who;
    if (logLine) g_logLine = logLine;
    Registry &r = registry();
    if (!r.error.empty()) {
      emit("IOC_FAILPOINTS: " + r.error, true);
      ok = false;
      return;
    }
    for (size_t i = 0; i < kCount; i++)
      if (r.points[i].set) emit(std::string("failpoint ") + kDefs[i].name + "=" + r.points[i].spec + " active: " + kDefs[i].doc);
  });
  return ok;
}

}  // namespace fail
}  // namespace ioc

#endif  // IOC_FAILPOINTS_ENABLED
