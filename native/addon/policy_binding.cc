// umapPolicyCreate / umapPolicyStats: eviction policies (native/uffd/eviction_policy.h) shared
// by mappings; named ones are process-wide.
#include "addon/policy_binding.h"

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "addon/bindings.h"
#include "addon/util/args.h"
#include "addon/util/errors.h"

namespace ioc {
namespace addon {
namespace {

using ummap::EvictionPolicy;
using PolicyRef = std::shared_ptr<EvictionPolicy>;

constexpr napi_type_tag kPolicyTag = {0x696f632d706f6c69ULL, 0x6379000000000001ULL};

// Named policies are process-wide: worker threads that ask for the same name share one quota.
std::mutex namedPoliciesMutex;
std::map<std::string, std::weak_ptr<EvictionPolicy>> namedPolicies;

PolicyRef namedPolicy(const std::string& name, EvictionPolicy::Order order, size_t limit, size_t window) {
  std::lock_guard<std::mutex> lock(namedPoliciesMutex);
  PolicyRef policy = namedPolicies[name].lock();
  if (policy && (policy->order() != order || policy->limit() != limit || policy->window() != window))
    throw std::invalid_argument("policy '" + name + "' already exists with other parameters");
  if (!policy) {
    policy = std::make_shared<EvictionPolicy>(order, limit, window);
    namedPolicies[name] = policy;
  }
  return policy;
}

// policyCreate(order 'fifo'|'lifo', limitBytes, windowBytes, name?) -> handle shared by mappings
Napi::Value PolicyCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string order = arg::string(info, 0, "order");
  if (order != "fifo" && order != "lifo") arg::throwType(env, "order", "'fifo' or 'lifo'", info[0]);
  size_t limit = arg::size(info, 1, "limit");
  size_t window = arg::size(info, 2, "window");
  std::string name = arg::given(info, 3) ? arg::string(info, 3, "name") : "";
  return guarded(env, [&]() -> Napi::Value {
    auto kind = order == "fifo" ? EvictionPolicy::Order::Fifo : EvictionPolicy::Order::Lifo;
    PolicyRef policy = name.empty() ? std::make_shared<EvictionPolicy>(kind, limit, window) : namedPolicy(name, kind, limit, window);
    return arg::handle(env, new PolicyRef(policy), kPolicyTag);
  });
}

// policyStats(handle) -> {used, limit}
Napi::Value PolicyStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PolicyRef p = policyOf(info[0], "policy");
  Napi::Object o = Napi::Object::New(env);
  o.Set("used", double(p->used()));
  o.Set("limit", double(p->limit()));
  return o;
}

}  // namespace

std::shared_ptr<EvictionPolicy> policyOf(const Napi::Value& handle, const char* name) {
  return arg::external<PolicyRef>(handle, kPolicyTag, name, "a policy handle (umapPolicyCreate)");
}

void InitPolicyBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("umapPolicyCreate", Napi::Function::New(env, PolicyCreate, "umapPolicyCreate"));
  exports.Set("umapPolicyStats", Napi::Function::New(env, PolicyStats, "umapPolicyStats"));
}

}  // namespace addon
}  // namespace ioc
