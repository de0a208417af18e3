// Eviction policies as JavaScript holds them (umapPolicyCreate's handles), for the mappings
// that take one (mapping_binding.cc).
#pragma once

#include <napi.h>

#include <memory>

#include "uffd/eviction_policy.h"

namespace ioc {
namespace addon {

// The policy of a handle made by umapPolicyCreate; anything else throws ERR_INVALID_ARG_TYPE
// naming the argument.
std::shared_ptr<ummap::EvictionPolicy> policyOf(const Napi::Value& handle, const char* name);

}  // namespace addon
}  // namespace ioc
