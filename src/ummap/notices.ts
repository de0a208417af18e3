// The runtime's events (a server restart seen by a mapping, acknowledged pages lost, snapshot
// pages that could not go back) reach the application as process warnings of type
// 'IocatcherWarning' with a `code` (IOC_SERVER_RESTARTED, IOC_PAGES_LOST, ...): listen with
// process.on('warning', w => ...). The native side queues them (native/uffd/notices.h); they are
// emitted when a mapping call of this thread returns or settles.
import { addon } from '../native';

/** Emit the queued notices as process warnings. */
export function emitNotices(): void {
  let notices: { code: string; message: string }[];
  try {
    notices = addon().umapTakeNotices();
  } catch {
    return;
  }
  for (const n of notices) process.emitWarning(n.message, { type: 'IocatcherWarning', code: n.code });
}
