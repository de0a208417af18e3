// Tiny command-line reader shared by the examples.
export class ArgReader {
  private i = -1;
  constructor(private readonly argv: string[]) {}

  /** The next option name, or undefined at the end. */
  next(): string | undefined {
    return this.argv[++this.i];
  }

  /** The value following the current option. */
  value(): string {
    const name = this.argv[this.i];
    const v = this.argv[++this.i];
    if (v === undefined) throw new Error(`${name} needs a value`);
    return v;
  }

  int(min: number, max = Number.MAX_SAFE_INTEGER): number {
    const s = this.value();
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`invalid number '${s}' (${min}..${max})`);
    return n;
  }

  /** HIGH:LOW, each a decimal or 0x hex int64. */
  objectId(): { high: bigint; low: bigint } {
    const [h, l] = this.value().split(':');
    if (l === undefined) throw new Error('an object id is HIGH:LOW');
    return { high: BigInt(h), low: BigInt(l) };
  }
}
