/**
 * Just enough HPACK (RFC 7541) to find and repair a request's `:authority` on the way
 * into Node's HTTP/2 server (see client-listener.ts for why). Bytes in, bytes out; no I/O.
 *
 * {@link HpackAuthorityFixer} follows one connection's header blocks in the client →
 * server direction, keeping a decoder-side dynamic table (names and sizes), and rewrites
 * every literal `:authority` whose value Node would reject into a value of the SAME
 * length made only of allowed characters. Keeping the length keeps the dynamic table's
 * size accounting, and so every later index, identical on both sides.
 */

/** Huffman code lengths of symbols 0..256 (RFC 7541 Appendix B; the code is canonical). */
const HUFFMAN_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
  28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5,
  6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6,
  7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23,
  23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22,
  22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22,
  23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27,
  27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25,
  24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;

/** Canonical Huffman tables: per length, the first code and the symbols in code order. */
const HUFFMAN = (() => {
  const maxLen = 30;
  const byLength: number[][] = Array.from({ length: maxLen + 1 }, () => []);
  for (let sym = 0; sym < HUFFMAN_LENGTHS.length; sym++) byLength[HUFFMAN_LENGTHS[sym]!]!.push(sym);
  const firstCode: number[] = new Array(maxLen + 1).fill(0);
  const codes: number[] = new Array(HUFFMAN_LENGTHS.length).fill(0);
  let code = 0;
  for (let len = 1; len <= maxLen; len++) {
    firstCode[len] = code;
    for (const sym of byLength[len]!) codes[sym] = code++;
    code <<= 1;
  }
  return { byLength, firstCode, codes };
})();

/** The canonical code of `symbol` (tests compare it with the RFC's table). */
export function huffmanCode(symbol: number): { code: number; length: number } {
  return { code: HUFFMAN.codes[symbol]!, length: HUFFMAN_LENGTHS[symbol]! };
}

/** A header block that does not decode. */
export class HpackError extends Error {
  override readonly name = "HpackError";
}

/** Decodes a Huffman-coded string (RFC 7541 §5.2). */
export function huffmanDecode(bytes: Uint8Array): Buffer {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      len++;
      if (len > 30) throw new HpackError("invalid Huffman code");
      const index = code - HUFFMAN.firstCode[len]!;
      const symbols = HUFFMAN.byLength[len]!;
      if (index >= 0 && index < symbols.length) {
        const sym = symbols[index]!;
        if (sym === EOS) throw new HpackError("EOS in a Huffman string");
        out.push(sym);
        code = 0;
        len = 0;
      }
    }
  }
  // Padding: at most 7 bits, all ones (a prefix of EOS).
  if (len > 7 || code !== (1 << len) - 1) throw new HpackError("invalid Huffman padding");
  return Buffer.from(out);
}

/** Static table names (RFC 7541 Appendix A), index 1..61. */
const STATIC_NAMES: readonly string[] = [
  "",
  ":authority",
  ":method",
  ":method",
  ":path",
  ":path",
  ":scheme",
  ":scheme",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  "accept-charset",
  "accept-encoding",
  "accept-language",
  "accept-ranges",
  "accept",
  "access-control-allow-origin",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-range",
  "content-type",
  "cookie",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "link",
  "location",
  "max-forwards",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "refresh",
  "retry-after",
  "server",
  "set-cookie",
  "strict-transport-security",
  "transfer-encoding",
  "user-agent",
  "vary",
  "via",
  "www-authenticate",
];
const STATIC_COUNT = STATIC_NAMES.length - 1;

/** Whether `value` is an :authority nghttp2 accepts (RFC 3986 authority characters). */
export function isValidAuthority(value: Uint8Array): boolean {
  for (const c of value) if (!AUTHORITY_CHARS[c]) return false;
  return true;
}

const AUTHORITY_CHARS: boolean[] = (() => {
  const ok = new Array<boolean>(256).fill(false);
  const allowed =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@[]%";
  for (const ch of allowed) ok[ch.charCodeAt(0)] = true;
  return ok;
})();

/** `http://10.0.0.1:2379` → `http:__10.0.0.1:2379`: same length, allowed characters only. */
export function repairAuthority(value: Uint8Array): Buffer {
  const out = Buffer.from(value);
  for (let i = 0; i < out.length; i++) if (!AUTHORITY_CHARS[out[i]!]) out[i] = 0x5f; // "_"
  return out;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  /** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
  int(prefixBits: number): number {
    if (this.pos >= this.buf.length) throw new HpackError("truncated header block");
    const max = (1 << prefixBits) - 1;
    let v = this.buf[this.pos++]! & max;
    if (v < max) return v;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new HpackError("truncated integer");
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (shift > 28) throw new HpackError("integer too large");
      if ((b & 0x80) === 0) return v;
    }
  }
  /** A string literal: its decoded bytes. */
  str(): Buffer {
    if (this.pos >= this.buf.length) throw new HpackError("truncated string");
    const huffman = (this.buf[this.pos]! & 0x80) !== 0;
    const len = this.int(7);
    if (this.pos + len > this.buf.length) throw new HpackError("truncated string");
    const raw = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return huffman ? huffmanDecode(raw) : Buffer.from(raw);
  }
}

function encodeInt(first: number, prefixBits: number, v: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (v < max) {
    out.push(first | v);
    return;
  }
  out.push(first | max);
  v -= max;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/**
 * Follows one connection's request header blocks (decoder side) and repairs literal
 * :authority values. Feed every header block in order, even unchanged ones: the dynamic
 * table must see every insertion.
 */
export class HpackAuthorityFixer {
  /** Dynamic table, newest first: name and entry size (32 + name + value octets). */
  #table: { name: string; size: number }[] = [];
  #size = 0;
  #maxSize = 4096;

  /**
   * Returns the header block with every invalid literal :authority repaired (the same
   * bytes when nothing needed repair), and whether it changed. Throws HpackError.
   */
  fix(block: Uint8Array): { block: Uint8Array; changed: boolean } {
    const r = new Reader(block);
    const parts: Uint8Array[] = [];
    let copyFrom = 0;
    let changed = false;
    while (r.pos < block.length) {
      const start = r.pos;
      const b = block[start]!;
      if (b & 0x80) {
        const index = r.int(7); // indexed field: nothing inserted
        if (index === 0) throw new HpackError("index 0");
        continue;
      }
      if ((b & 0xe0) === 0x20) {
        this.#resize(r.int(5));
        continue;
      }
      const incremental = (b & 0xc0) === 0x40;
      const prefixBits = incremental ? 6 : 4;
      const firstBits = b & (incremental ? 0xc0 : 0xf0);
      const nameIndex = r.int(prefixBits);
      const name = nameIndex === 0 ? r.str().toString("latin1") : this.#name(nameIndex);
      let value = r.str();
      if (name === ":authority" && !isValidAuthority(value)) {
        value = repairAuthority(value);
        const field: number[] = [];
        if (nameIndex === 0) {
          encodeInt(firstBits, prefixBits, 0, field);
          encodeInt(0, 7, name.length, field);
          for (const ch of Buffer.from(name, "latin1")) field.push(ch);
        } else {
          encodeInt(firstBits, prefixBits, nameIndex, field);
        }
        encodeInt(0, 7, value.length, field);
        parts.push(block.subarray(copyFrom, start), Buffer.from(field), value);
        copyFrom = r.pos;
        changed = true;
      }
      if (incremental) this.#insert(name, value.length);
    }
    if (!changed) return { block, changed };
    parts.push(block.subarray(copyFrom));
    return { block: Buffer.concat(parts), changed };
  }

  #name(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_NAMES[index]!;
    const entry = this.#table[index - STATIC_COUNT - 1];
    if (entry === undefined) throw new HpackError(`index ${index} beyond the dynamic table`);
    return entry.name;
  }

  #insert(name: string, valueLength: number): void {
    const size = 32 + Buffer.byteLength(name, "latin1") + valueLength;
    this.#table.unshift({ name, size });
    this.#size += size;
    this.#evict();
  }

  #resize(max: number): void {
    this.#maxSize = max;
    this.#evict();
  }

  #evict(): void {
    while (this.#size > this.#maxSize && this.#table.length > 0) {
      this.#size -= this.#table.pop()!.size;
    }
  }
}
