// Symbol.dispose / Symbol.asyncDispose for `using` / `await using`. Node >= 20.4 defines both;
// earlier 20.x releases do not, so define them the way Node does (its own symbols, looked up by
// TypeScript's `using` helpers through Symbol.dispose / Symbol.asyncDispose).
const S = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
S.dispose ??= Symbol.for('nodejs.dispose');
S.asyncDispose ??= Symbol.for('nodejs.asyncDispose');
export {};
