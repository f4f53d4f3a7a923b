/**
 * Events of committed writes, decoded lazily: the apply path creates one per change, and
 * most are never looked at (no watcher on the key), so `kv` and `prevKv` are built on
 * first access from the record bytes.
 */
import { toKeyValue } from "./record.js";
import type { KeyValue, MvccEvent } from "./types.js";

const EMPTY = new Uint8Array(0);

/** One PUT or DELETE with its revision; implements {@link MvccEvent}. */
export class StoredEvent implements MvccEvent {
  readonly type: "PUT" | "DELETE";
  /** The user key. */
  readonly key: Uint8Array;
  /** Main revision of the change. */
  readonly revision: number;
  /** Sub revision (position in its transaction). */
  readonly sub: number;
  readonly #rec: Buffer | undefined;
  readonly #prev: Buffer | undefined;
  #kv: KeyValue | undefined;
  #prevKv: KeyValue | undefined | null = null;

  /**
   * @param rec the put record (PUT only)
   * @param prev the record of the key's previous version (a put), if any
   */
  constructor(
    type: "PUT" | "DELETE",
    key: Uint8Array,
    revision: number,
    sub: number,
    rec: Buffer | undefined,
    prev: Buffer | undefined,
  ) {
    this.type = type;
    this.key = key;
    this.revision = revision;
    this.sub = sub;
    this.#rec = rec;
    this.#prev = prev;
  }

  get kv(): KeyValue {
    if (!this.#kv) {
      this.#kv =
        this.type === "PUT" && this.#rec
          ? toKeyValue(this.key, this.#rec)
          : {
              key: this.key,
              createRevision: 0n,
              modRevision: BigInt(this.revision),
              version: 0n,
              value: EMPTY,
              lease: 0n,
            };
    }
    return this.#kv;
  }

  get prevKv(): KeyValue | undefined {
    if (this.#prevKv === null) {
      this.#prevKv = this.#prev ? toKeyValue(this.key, this.#prev) : undefined;
    }
    return this.#prevKv;
  }

  /** Plain-object form (for tests and logs). */
  toJSON(): MvccEvent {
    const prevKv = this.prevKv;
    return prevKv ? { type: this.type, kv: this.kv, prevKv } : { type: this.type, kv: this.kv };
  }
}
