// AbortSignal support for long calls. A native call cannot be recalled once sent (the request is
// on the wire, or its write-back on a worker thread): aborting stops the wait, not the work.
import { IocError } from './errors';

/** Options of the calls that take an AbortSignal. */
export interface AbortOptions {
  /**
   * Aborting rejects the call at once with IocError code 'ABORT_ERR' (name 'AbortError',
   * `cause` the signal's reason). A call whose signal is already aborted sends nothing. A request
   * already sent runs to its end on the server and its result is dropped (see each method for
   * what that means for its buffers and for the object).
   */
  signal?: AbortSignal;
}

/** @internal */
export function abortError(signal: AbortSignal, what: string): IocError {
  const e = new IocError('ABORT_ERR', `${what}: aborted`);
  e.name = 'AbortError';
  (e as Error).cause = signal.reason;
  return e;
}

/** Validates opts.signal and throws ABORT_ERR if it is already aborted (nothing started). @internal */
export function checkSignal(signal: AbortSignal | undefined, what: () => string): void {
  if (signal === undefined) return;
  if (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') {
    throw new IocError('EINVAL', `${what()}: signal must be an AbortSignal`);
  }
  if (signal.aborted) throw abortError(signal, what());
}

/**
 * Settles as `call`, or rejects with ABORT_ERR when `signal` aborts first; `call` keeps running
 * and its outcome is dropped. @internal
 */
export function raceAbort<T>(call: Promise<T>, signal: AbortSignal | undefined, what: () => string): Promise<T> {
  if (!signal) return call;
  call.catch(() => undefined);  // an abandoned call may still reject: handled here
  if (signal.aborted) return Promise.reject(abortError(signal, what()));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal, what()));
    signal.addEventListener('abort', onAbort, { once: true });
    call.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
