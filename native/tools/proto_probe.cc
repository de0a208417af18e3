// iocatcher-proto-probe: speaks the wire protocol with deliberate faults, for tests.
//   iocatcher-proto-probe IP PORT bad-key     -> CREATE with a wrong key; prints "status=<n>"
//   iocatcher-proto-probe IP PORT good-key    -> the same with the right key
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "client/connection.h"

using namespace ioc;
using namespace ioc::proto;

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: iocatcher-proto-probe IP PORT bad-key|good-key\n");
    return 2;
  }
  client::ConnectOptions opts;
  opts.ip = argv[1];
  opts.port = argv[2];
  opts.timeoutMs = 5000;
  std::string mode = argv[3];
  try {
    client::Connection conn(opts);
    if (mode == "bad-key") conn.overrideCredentials(conn.tcpClientId(), conn.tcpClientKey() ^ 0x5a5a5a5a5a5a5a5aull);
    Create m;
    m.objectId.high = 1;
    m.objectId.low = 1;
    int status = conn.call(CREATE, [&](Writer &w) { m.encode(w); }, CREATE_ACK, [](uint64_t, Reader &r) {
      Response resp;
      return decodeResponse(r, resp) ? resp.status : -EPROTO;
    });
    printf("status=%d\n", status);
    return 0;
  } catch (const std::exception &e) {
    fprintf(stderr, "probe: %s\n", e.what());
    return 1;
  }
}
