// `iocatcher get` and `put`: an object to a file or stdout, a file or stdin into an object, of
// any size, a few MiB at a time (one read or write on the wire while the next chunk is filled
// or the last one written out).
import * as fs from 'fs';
import { once } from 'events';
import type { Readable, Writable } from 'stream';
import { IocClient } from '../client';
import { IocError } from '../errors';
import { Progress } from './progress';

/** Bytes per read or write request. */
export const CHUNK = 4 << 20;

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
  const out: Writable = dest === '-' ? process.stdout : fs.createWriteStream(dest);
  const failed = new Promise<never>((_, reject) => out.on('error', (e: NodeJS.ErrnoException) => {
    reject(new IocError(e.code === 'EPIPE' ? 'EPIPE' : 'EIO', `writing ${dest === '-' ? 'stdout' : dest}: ${e.message}`));
  }));
  failed.catch(() => undefined);
  const progress = new Progress(`get ${id.high}:${id.low}`, size);
  const read = (offset: number) => {
    const p = client.read(id.high, id.low, offset, Math.min(CHUNK, size - offset));
    p.catch(() => undefined);  // awaited in its turn: a failure while the last chunk is written out is no crash
    return p;
  };
  let next = size > 0 ? read(0) : undefined;
  for (let offset = 0; offset < size;) {
    const chunk = await Promise.race([next!, failed]);
    offset += chunk.length;
    next = offset < size ? read(offset) : undefined;  // on the wire while this one is written out
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
    progress.update(offset);
  }
  if (out !== process.stdout) {
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
  }
  progress.finish();
  return size;
}

/**
 * src (a path, or '-' for stdin) into the object, which is replaced: its size is then what was
 * written. The data is flushed to the server's store at the end. Resolves with the bytes written.
 */
export async function putObject(client: IocClient, src: string, id: ObjectRef): Promise<number> {
  let input: Readable;
  let total: number | undefined;
  if (src === '-') {
    input = process.stdin;
  } else {
    const fd = await fs.promises.open(src, 'r').catch((e: NodeJS.ErrnoException) => {
      throw new IocError(e.code === 'ENOENT' ? 'ENOENT' : 'EIO', `cannot read ${src}: ${e.message}`);
    });
    const st = await fd.stat();
    total = st.isFile() ? st.size : undefined;
    input = fs.createReadStream('', { fd, highWaterMark: CHUNK });
  }
  // Replace: the old object's bytes past the new end must not stay.
  await client.delete(id.high, id.low).catch((e: IocError) => {
    if (e.code !== 'ENOENT') throw e;
  });
  await client.create(id.high, id.low);
  const progress = new Progress(`put ${id.high}:${id.low}`, total);
  // Two buffers: one on the wire, the other filling.
  const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let cur = 0;
  let fill = 0;
  let offset = 0;
  let written = 0;
  let inflight: Promise<unknown> | undefined;
  const send = async (n: number) => {
    if (inflight) await inflight;
    const at = offset;
    inflight = client.write(id.high, id.low, at, bufs[cur].subarray(0, n)).then(() => {
      written = at + n;
      progress.update(written);
    });
    inflight.catch(() => undefined);  // awaited in its turn: a failure while reading on is no crash
    offset += n;
    cur ^= 1;
    fill = 0;
  };
  for await (const piece of input as AsyncIterable<Buffer>) {
    for (let p = 0; p < piece.length;) {
      const n = Math.min(CHUNK - fill, piece.length - p);
      piece.copy(bufs[cur], fill, p, p + n);
      fill += n;
      p += n;
      if (fill === CHUNK) await send(fill);
    }
  }
  if (fill > 0) await send(fill);
  if (inflight) await inflight;
  await client.flush(id.high, id.low);
  progress.finish();
  return written;
}
