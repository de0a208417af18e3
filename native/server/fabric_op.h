// The context of every libfabric operation the server posts: fi_context2 first, so that the
// completion's context pointer is the operation itself, and a kind to dispatch on.
#pragma once

#include <rdma/fabric.h>

namespace ioc {
namespace server {

enum class OpKind { Recv, Send, Rma };

struct FabricOp {
  fi_context2 ctx;
  OpKind kind;
};

}  // namespace server
}  // namespace ioc
