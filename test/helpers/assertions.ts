// Assertions and names shared by the test files.
import { strict as assert } from 'assert';
import type { IocError } from '../../src';

/** Awaits p, which must reject with an Error whose code is (or matches) code; returns the error. */
export async function rejectsWithCode(p: Promise<unknown>, code: string | RegExp): Promise<IocError> {
  try {
    await p;
  } catch (e) {
    const err = e as IocError;
    assert.ok(err instanceof Error, 'an Error');
    if (typeof code === 'string') assert.equal(err.code, code, err.message);
    else assert.match(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** 'ok' when p resolves, else the code of the error it rejects with. */
export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as IocError).code;
  }
}

/** An int64 half as 16 hex digits (as unsigned): how stores name objects. */
export const hex16 = (v: number | bigint): string => BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, '0');
