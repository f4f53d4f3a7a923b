/**
 * Exact protobuf sizes of watch responses, computed without encoding them (the stream's
 * send buffer is accounted in bytes), and etcd's fragmentation of a large response
 * (v3rpc/watch.go `sendFragments`).
 */
import type { etcdserverpb, mvccpb } from "@chainfire/api";

/** Bytes of an unsigned varint. */
function uvarintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Bytes of a (u)int64 varint field value; negative int64s take 10 bytes. */
function int64Size(v: bigint): number {
  if (v < 0n) return 10;
  if (v <= BigInt(Number.MAX_SAFE_INTEGER)) return uvarintSize(Number(v));
  let size = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    size++;
  }
  return size;
}

/** A length-delimited field of `len` bytes with a one-byte tag. */
function delimited(len: number): number {
  return 1 + uvarintSize(len) + len;
}

/** A varint field with a one-byte tag; absent (0 bytes) when zero, as proto3 encodes it. */
function varintField(v: bigint): number {
  return v === 0n ? 0 : 1 + int64Size(v);
}

/** Encoded size of a KeyValue message (without its tag and length). */
export function keyValueSize(kv: mvccpb.KeyValue): number {
  return (
    (kv.key.length ? delimited(kv.key.length) : 0) +
    varintField(kv.createRevision) +
    varintField(kv.modRevision) +
    varintField(kv.version) +
    (kv.value.length ? delimited(kv.value.length) : 0) +
    varintField(kv.lease)
  );
}

/** Encoded size of an Event message (without its tag and length). */
export function eventSize(ev: mvccpb.Event): number {
  return (
    (ev.type !== 0 ? 1 + int64Size(BigInt(ev.type)) : 0) +
    (ev.kv ? delimited(keyValueSize(ev.kv)) : 0) +
    (ev.prevKv ? delimited(keyValueSize(ev.prevKv)) : 0)
  );
}

/** What one event adds to a WatchResponse: tag, length and the event. */
export function eventFieldSize(ev: mvccpb.Event): number {
  return delimited(eventSize(ev));
}

function headerSize(h: etcdserverpb.ResponseHeader): number {
  return (
    varintField(h.clusterId) +
    varintField(h.memberId) +
    varintField(h.revision) +
    varintField(h.raftTerm)
  );
}

/** Encoded size of a WatchResponse without its events. */
export function responseBaseSize(r: etcdserverpb.WatchResponse): number {
  const reason = r.cancelReason ? Buffer.byteLength(r.cancelReason, "utf8") : 0;
  return (
    (r.header ? delimited(headerSize(r.header)) : 0) +
    varintField(r.watchId) +
    (r.created ? 2 : 0) +
    (r.canceled ? 2 : 0) +
    varintField(r.compactRevision) +
    (reason ? delimited(reason) : 0) +
    (r.fragment ? 2 : 0)
  );
}

/** Encoded size of a WatchResponse. */
export function responseSize(r: etcdserverpb.WatchResponse): number {
  let size = responseBaseSize(r);
  for (const ev of r.events) size += eventFieldSize(ev);
  return size;
}

/**
 * etcd's `sendFragments`: a response of `maxBytes` or more with at least two events is
 * split into responses of consecutive events, each below `maxBytes` unless it holds a
 * single event, all with `fragment = true` except the last. Other responses are returned
 * as they are. Sizes are in encoded bytes.
 */
export function fragmentResponse(
  r: etcdserverpb.WatchResponse,
  maxBytes: number,
): etcdserverpb.WatchResponse[] {
  const sizes = r.events.map(eventFieldSize);
  const base = responseBaseSize({ ...r, fragment: true });
  let total = responseBaseSize(r);
  for (const s of sizes) total += s;
  if (total < maxBytes || r.events.length < 2) return [r];
  const out: etcdserverpb.WatchResponse[] = [];
  let i = 0;
  while (i < r.events.length) {
    const start = i;
    let size = base + sizes[i]!;
    i++;
    while (i < r.events.length && size + sizes[i]! < maxBytes) {
      size += sizes[i]!;
      i++;
    }
    out.push({ ...r, events: r.events.slice(start, i), fragment: i < r.events.length });
  }
  return out;
}
