// `iocatcher get` and `put`: an object to a file or stdout, a file or stdin into an object, of
// any size, in chunks through two reused buffers: one on the wire while the other is written
// out (get) or filled (put). Reused buffers: a fresh 16 MiB Buffer per chunk costs its page
// faults every time.
import * as fs from 'fs';
import type { Readable } from 'stream';
import { IocClient } from '../client';
import { IocError } from '../errors';
import { addon } from '../native';
import { Progress } from './progress';

/** Bytes per read or write request. */
export const CHUNK = 16 << 20;

export interface ObjectRef {
  high: bigint;
  low: bigint;
}

/**
 * The object (its size as the server's stat gives it) to dest: a path, or '-' for stdout.
 * Resolves with the bytes written.
 */
export async function getObject(client: IocClient, id: ObjectRef, dest: string): Promise<number> {
  const st = await client.stat(id.high, id.low);
  const size = st.size;
  const toStdout = dest === '-';
  const file = toStdout ? undefined : await fs.promises.open(dest, 'w').catch((e: NodeJS.ErrnoException) => {
    throw new IocError(e.code === 'ENOENT' || e.code === 'EACCES' ? e.code : 'EIO', `cannot write ${dest}: ${e.message}`);
  });
  // A regular file's blocks reserved first: writes into them skip the allocation (a file system
  // that cannot, or a device, is written as it is). ENOSPC says so before anything moves.
  if (file && size > 0 && (await file.stat()).isFile()) {
    const noRoom = await addon().fileAllocate(file.fd, size).then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
    if (noRoom) {
      await file.close();
      throw new IocError('ENOSPC', `cannot write ${dest}: no room for the object's ${size} bytes`);
    }
  }
  const writeOut = async (chunk: Buffer) => {
    try {
      if (file) {
        for (let done = 0; done < chunk.length;) done += (await file.write(chunk, done, chunk.length - done)).bytesWritten;
      } else {
        // The callback says the bytes left the buffer: it is then free for the next read.
        await new Promise<void>((resolve, reject) => process.stdout.write(chunk, (e) => (e ? reject(e) : resolve())));
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new IocError(e.code === 'EPIPE' ? 'EPIPE' : 'EIO', `writing ${toStdout ? 'stdout' : dest}: ${e.message}`);
    }
  };
  const progress = new Progress(`get ${id.high}:${id.low}`, size);
  const bufs = [Buffer.allocUnsafe(Math.min(CHUNK, size)), Buffer.allocUnsafe(Math.min(CHUNK, size))];
  const read = (offset: number, buf: Buffer) => {
    const view = buf.subarray(0, Math.min(CHUNK, size - offset));
    const p = client.readInto(id.high, id.low, offset, view).then(() => view);
    p.catch(() => undefined);  // awaited in its turn: a failure while the last chunk is written out is no crash
    return p;
  };
  try {
    let cur = 0;
    let next = size > 0 ? read(0, bufs[0]) : undefined;
    for (let offset = 0; offset < size;) {
      const chunk = await next!;
      offset += chunk.length;
      next = offset < size ? read(offset, bufs[cur ^ 1]) : undefined;  // on the wire while this one is written out
      cur ^= 1;
      await writeOut(chunk);
      progress.update(offset);
    }
  } finally {
    await file?.close();
  }
  progress.finish();
  return size;
}

/**
 * src (a path, or '-' for stdin) into the object, which is replaced: its size is then what was
 * written. The data is flushed to the server's store at the end. Resolves with the bytes written.
 */
export async function putObject(client: IocClient, src: string, id: ObjectRef): Promise<number> {
  let file: fs.promises.FileHandle | undefined;
  let total: number | undefined;
  if (src !== '-') {
    file = await fs.promises.open(src, 'r').catch((e: NodeJS.ErrnoException) => {
      throw new IocError(e.code === 'ENOENT' ? 'ENOENT' : 'EIO', `cannot read ${src}: ${e.message}`);
    });
  }
  try {
    if (file) {
      const st = await file.stat();
      total = st.isFile() ? st.size : undefined;
    }
    // Replace: the old object's bytes past the new end must not stay. An object no larger than
    // the file is overwritten whole, so it is kept (deleting and recreating a large stored object
    // costs its store file); a larger one, or any when the size is not known (a pipe), goes first.
    const old = await client.stat(id.high, id.low).catch((e: IocError) => {
      if (e.code !== 'ENOENT') throw e;
      return undefined;
    });
    const overwritten = old !== undefined && total !== undefined && Math.max(old.size, old.storedBytes) <= total;
    if (!overwritten) {
      if (old) {
        await client.delete(id.high, id.low).catch((e: IocError) => {
          if (e.code !== 'ENOENT') throw e;
        });
      }
      await client.create(id.high, id.low);
    }
    const progress = new Progress(`put ${id.high}:${id.low}`, total);
    // Two buffers: one on the wire, the other filling.
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let cur = 0;
    let offset = 0;
    let written = 0;
    let inflight: Promise<unknown> | undefined;
    const send = async (n: number) => {
      const at = offset;
      const p = client.write(id.high, id.low, at, bufs[cur].subarray(0, n)).then(() => {
        written = Math.max(written, at + n);
        progress.update(written);
      });
      p.catch(() => undefined);  // awaited in its turn: a failure while reading on is no crash
      offset += n;
      cur ^= 1;
      if (inflight) await inflight;  // the other buffer is free once its write is done
      inflight = p;
    };
    const fill = file ? fileFiller(file) : streamFiller(process.stdin);
    for (;;) {
      const n = await fill(bufs[cur]);
      if (n === 0) break;
      await send(n);
    }
    if (inflight) await inflight;
    await client.flush(id.high, id.low);
    progress.finish();
    return written;
  } finally {
    await file?.close();
  }
}

/** Fills buf from a file (short only at its end); 0 at the end. */
function fileFiller(file: fs.promises.FileHandle): (buf: Buffer) => Promise<number> {
  return async (buf) => {
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await file.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n;
  };
}

/** Fills buf from a stream (a pipe: stdin), copying its pieces; 0 at the end. */
function streamFiller(input: Readable): (buf: Buffer) => Promise<number> {
  const it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let rest: Buffer | undefined;
  return async (buf) => {
    let n = 0;
    while (n < buf.length) {
      if (!rest || rest.length === 0) {
        const r = await it.next();
        if (r.done) break;
        rest = r.value;
      }
      const k = rest.copy(buf, n, 0, Math.min(rest.length, buf.length - n));
      rest = rest.subarray(k);
      n += k;
    }
    return n;
  };
}
