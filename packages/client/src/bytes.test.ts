import { describe, expect, it } from "vitest";
import { hexId, parseId, prefixEnd, toBuffer, toWireRange } from "./bytes.js";
import { parseEndpoint, splitEndpoints } from "./endpoint.js";

describe("keys, ranges and ids", () => {
  it.each([
    ["a", "b"],
    ["a/", "a0"],
    ["a\xff", "b"],
    ["", "\0"],
  ])("prefixEnd(%j) = %j", (prefix, end) => {
    expect(prefixEnd(Buffer.from(prefix, "latin1")).toString("latin1")).toBe(end);
  });

  it("prefixEnd of all-0xff bytes is the end of the keyspace", () => {
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.from([0]));
  });

  it("converts selectors to wire ranges", () => {
    const s = (sel: Parameters<typeof toWireRange>[0]) => {
      const r = toWireRange(sel);
      return [r.key.toString("latin1"), r.rangeEnd.toString("latin1")];
    };
    expect(s("k")).toEqual(["k", ""]);
    expect(s({ key: "k" })).toEqual(["k", ""]);
    expect(s({ prefix: "p/" })).toEqual(["p/", "p0"]);
    expect(s({ prefix: "" })).toEqual(["\0", "\0"]);
    expect(s({ start: "a", end: "c" })).toEqual(["a", "c"]);
    expect(s({ start: "a" })).toEqual(["a", ""]);
    expect(s({ fromKey: "m" })).toEqual(["m", "\0"]);
    expect(s({ all: true })).toEqual(["\0", "\0"]);
  });

  it("accepts strings, Buffers and Uint8Arrays", () => {
    expect(toBuffer("é")).toEqual(Buffer.from([0xc3, 0xa9]));
    const u = new Uint8Array([1, 2, 3]).subarray(1);
    expect(toBuffer(u)).toEqual(Buffer.from([2, 3]));
  });

  it("prints and parses 64-bit ids in hex, as etcdctl does", () => {
    expect(hexId(0x694d77aa9e2b5a3dn)).toBe("694d77aa9e2b5a3d");
    expect(hexId(-1n)).toBe("ffffffffffffffff");
    expect(parseId("694d77aa9e2b5a3d")).toBe(0x694d77aa9e2b5a3dn);
    expect(parseId("0x10")).toBe(16n);
    expect(parseId("ffffffffffffffff")).toBe(-1n);
    expect(parseId("ffffffffffffffff", false)).toBe(0xffffffffffffffffn);
    expect(() => parseId("xyz")).toThrow(RangeError);
    expect(() => parseId("1ffffffffffffffff")).toThrow(RangeError);
  });

  it("parses endpoint URLs", () => {
    expect(parseEndpoint("http://10.0.0.1:2379")).toMatchObject({
      target: "10.0.0.1:2379",
      secure: false,
    });
    expect(parseEndpoint("https://node01")).toMatchObject({ target: "node01:2379", secure: true });
    expect(parseEndpoint("127.0.0.1:23790/")).toMatchObject({ target: "127.0.0.1:23790" });
    expect(parseEndpoint("[::1]:2379")).toMatchObject({ target: "[::1]:2379" });
    expect(parseEndpoint("unix:///run/etcd.sock").target).toBe("unix:///run/etcd.sock");
    expect(() => parseEndpoint(" ")).toThrow(TypeError);
    expect(splitEndpoints("a:1, b:2,,c:3")).toEqual(["a:1", "b:2", "c:3"]);
  });
});
