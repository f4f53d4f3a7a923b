import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compareBytes,
  decodeKey,
  decodeRevision,
  decodeRevisionDesc,
  encodedKeyEnd,
  encodedKeyUpperBound,
  encodeKey,
  encodeKeyRevision,
  encodeKeyRevisionDesc,
  encodeRevision,
  encodeRevisionDesc,
  FROM_KEY,
  intervalContains,
  keyInterval,
  prefixEnd,
} from "./keys.js";

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Keys biased towards the troublesome bytes 0x00, 0x01 and 0xff. */
const keyArb = fc.uint8Array({ maxLength: 12 }).chain((raw) =>
  fc
    .array(fc.constantFrom(0x00, 0x01, 0xff, 0x61), {
      minLength: raw.length,
      maxLength: raw.length,
    })
    .chain((special) =>
      fc.boolean().map((useSpecial) => (useSpecial ? Uint8Array.from(special) : raw)),
    ),
);
const revArb = fc.record({
  main: fc.oneof(fc.nat({ max: 10 }), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  sub: fc.oneof(fc.nat({ max: 3 }), fc.nat()),
});

describe("encodeKey", () => {
  it("matches the documented examples", () => {
    expect(hex(encodeKey(Buffer.from("a")))).toBe("610001");
    expect(hex(encodeKey(Buffer.from("a\0")))).toBe("6100ff0001");
    expect(hex(encodeKey(Buffer.from("a\0b")))).toBe("6100ff620001");
    expect(hex(encodeKey(new Uint8Array(0)))).toBe("0001");
  });

  it("preserves byte order", () => {
    fc.assert(
      fc.property(keyArb, keyArb, (a, b) => {
        expect(sign(compareBytes(encodeKey(a), encodeKey(b)))).toBe(sign(compareBytes(a, b)));
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips and finds its own end", () => {
    fc.assert(
      fc.property(keyArb, fc.uint8Array({ maxLength: 20 }), (k, suffix) => {
        const enc = Buffer.concat([encodeKey(k), suffix]);
        const { key, end } = decodeKey(enc);
        expect(hex(key)).toBe(hex(k));
        expect(end).toBe(encodeKey(k).length);
        expect(encodedKeyEnd(enc)).toBe(end);
      }),
    );
  });

  it("is prefix-free: key then any suffix sorts by key first", () => {
    fc.assert(
      fc.property(
        keyArb,
        keyArb,
        fc.uint8Array({ maxLength: 16 }),
        fc.uint8Array({ maxLength: 16 }),
        (a, b, s, t) => {
          fc.pre(compareBytes(a, b) !== 0);
          const ea = Buffer.concat([encodeKey(a), s]);
          const eb = Buffer.concat([encodeKey(b), t]);
          expect(sign(compareBytes(ea, eb))).toBe(sign(compareBytes(a, b)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("bounds every version of a key between encodeKey and its upper bound", () => {
    fc.assert(
      fc.property(keyArb, keyArb, revArb, (a, b, r) => {
        const lo = encodeKey(a);
        const hi = encodedKeyUpperBound(lo);
        const v = encodeKeyRevisionDesc(b, r.main, r.sub);
        const inside = compareBytes(v, lo) >= 0 && compareBytes(v, hi) < 0;
        expect(inside).toBe(compareBytes(a, b) === 0);
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects malformed encodings", () => {
    expect(() => decodeKey(Buffer.from([0x61, 0x62]))).toThrow(/terminator/);
    expect(() => decodeKey(Buffer.from([0x61, 0x00, 0x05]))).toThrow(/escape/);
  });
});

describe("revisions", () => {
  const cmpRev = (x: { main: number; sub: number }, y: { main: number; sub: number }) =>
    sign(x.main - y.main || x.sub - y.sub);

  it("sort ascending as main then sub, and round-trip", () => {
    fc.assert(
      fc.property(revArb, revArb, (x, y) => {
        expect(
          sign(compareBytes(encodeRevision(x.main, x.sub), encodeRevision(y.main, y.sub))),
        ).toBe(cmpRev(x, y));
        expect(decodeRevision(encodeRevision(x.main, x.sub))).toEqual(x);
      }),
      { numRuns: 2000 },
    );
  });

  it("sort descending in the complemented form, and round-trip", () => {
    fc.assert(
      fc.property(revArb, revArb, (x, y) => {
        const ex = encodeRevisionDesc(x.main, x.sub);
        const ey = encodeRevisionDesc(y.main, y.sub);
        expect(sign(compareBytes(ex, ey))).toBe(sign(-cmpRev(x, y)));
        expect(decodeRevisionDesc(ex)).toEqual(x);
      }),
      { numRuns: 2000 },
    );
  });

  it("(key, revision) pairs sort by key bytes, then revision", () => {
    fc.assert(
      fc.property(keyArb, revArb, keyArb, revArb, (a, ra, b, rb) => {
        const expected = sign(compareBytes(a, b)) || cmpRev(ra, rb);
        const asc = compareBytes(
          encodeKeyRevision(a, ra.main, ra.sub),
          encodeKeyRevision(b, rb.main, rb.sub),
        );
        expect(sign(asc)).toBe(expected);
        const desc = compareBytes(
          encodeKeyRevisionDesc(a, ra.main, ra.sub),
          encodeKeyRevisionDesc(b, rb.main, rb.sub),
        );
        expect(sign(desc)).toBe(sign(compareBytes(a, b)) || sign(-cmpRev(ra, rb)));
      }),
      { numRuns: 3000 },
    );
  });
});

describe("range ends", () => {
  it("prefixEnd is the smallest bound above every key with the prefix", () => {
    expect(hex(prefixEnd(Buffer.from("abc")))).toBe(hex(Buffer.from("abd")));
    expect(hex(prefixEnd(Uint8Array.from([0x61, 0xff, 0xff])))).toBe("62");
    expect(prefixEnd(Uint8Array.from([0xff, 0xff]))).toBe(FROM_KEY);
    expect(prefixEnd(new Uint8Array(0))).toBe(FROM_KEY);
    fc.assert(
      fc.property(keyArb, keyArb, (p, k) => {
        const iv = keyInterval(p, prefixEnd(p));
        const hasPrefix = k.length >= p.length && compareBytes(k.subarray(0, p.length), p) === 0;
        expect(intervalContains(iv, k)).toBe(hasPrefix);
      }),
      { numRuns: 2000 },
    );
  });

  it("interprets empty, \\0 and explicit range ends like etcd", () => {
    const b = (s: string) => Buffer.from(s);
    expect(intervalContains(keyInterval(b("a"), undefined), b("a"))).toBe(true);
    expect(intervalContains(keyInterval(b("a"), new Uint8Array(0)), b("ab"))).toBe(false);
    expect(intervalContains(keyInterval(b("a"), FROM_KEY), b("\xff\xff"))).toBe(true);
    expect(intervalContains(keyInterval(b("b"), FROM_KEY), b("a"))).toBe(false);
    expect(intervalContains(keyInterval(b("a"), b("c")), b("c"))).toBe(false);
    expect(intervalContains(keyInterval(b("c"), b("a")), b("b"))).toBe(false);
  });
});
