// Failpoints (native/common/failpoint.h, the names in native/common/failpoint_list.h): the
// environment that turns them on in a server or client process of the test build.

/** Failpoint name -> action, e.g. { 'server.hold_inplace_write': 'after(2)' }. */
export type Failpoints = Record<string, string>;

/** The environment for these failpoints: IOC_FAILPOINTS="name=action;name=action". */
export function failpoints(points: Failpoints): NodeJS.ProcessEnv {
  return { IOC_FAILPOINTS: Object.entries(points).map(([name, action]) => `${name}=${action}`).join(';') };
}
