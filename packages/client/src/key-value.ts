/**
 * What the SDK returns for a stored key: etcd's `mvccpb.KeyValue` with helpers to read
 * the value as a string, JSON or bytes.
 *
 * @module
 */
import type { mvccpb } from "@chainfire/api";

/**
 * One key's state at some revision. Keys and values are kept as bytes; `string()`,
 * `json()` and `keyString()` decode them.
 */
export class KeyValue {
  /** The key. */
  readonly key: Buffer;
  /** The value (empty for a `keysOnly` read and in delete events). */
  readonly value: Buffer;
  /** The revision of the key's last creation. */
  readonly createRevision: bigint;
  /** The revision of the key's last modification. */
  readonly modRevision: bigint;
  /** Number of modifications since the key was (last) created; 0 once deleted. */
  readonly version: bigint;
  /** The lease the key is attached to, or 0n. */
  readonly lease: bigint;

  constructor(kv: mvccpb.KeyValue) {
    this.key = kv.key;
    this.value = kv.value;
    this.createRevision = kv.createRevision;
    this.modRevision = kv.modRevision;
    this.version = kv.version;
    this.lease = kv.lease;
  }

  /** The key decoded as UTF-8. */
  keyString(): string {
    return this.key.toString("utf8");
  }

  /** The value decoded as UTF-8. */
  string(): string {
    return this.value.toString("utf8");
  }

  /** The value parsed as JSON (throws a `SyntaxError` if it is not JSON). */
  json<T = unknown>(): T {
    return JSON.parse(this.value.toString("utf8")) as T;
  }

  /** The value's bytes. */
  buffer(): Buffer {
    return this.value;
  }

  /** A plain-object form with strings, for logs and `JSON.stringify`. */
  toJSON(): {
    key: string;
    value: string;
    createRevision: string;
    modRevision: string;
    version: string;
    lease: string;
  } {
    return {
      key: this.keyString(),
      value: this.string(),
      createRevision: this.createRevision.toString(),
      modRevision: this.modRevision.toString(),
      version: this.version.toString(),
      lease: this.lease.toString(),
    };
  }
}

/** Wraps a wire KeyValue, or passes `undefined` through. */
export function wrapKv(kv: mvccpb.KeyValue | undefined): KeyValue | undefined {
  return kv === undefined ? undefined : new KeyValue(kv);
}
