/**
 * Alarms (etcd's alarm store): which member raised which alarm, replicated through the log
 * and kept in the `meta` column family under "alarm/" + u64be member id + u8 type, so state
 * snapshots carry them. Loaded at start; changed only by applied Alarm requests.
 */
import { etcdserverpb } from "@chainfire/api";
import type { Engine, WriteBatch } from "@chainfire/storage";

const PREFIX = Buffer.from("alarm/");
const EMPTY = Buffer.alloc(0);

function alarmKey(memberId: bigint, type: etcdserverpb.AlarmType): Buffer {
  const k = Buffer.alloc(PREFIX.length + 9);
  PREFIX.copy(k, 0);
  k.writeBigUInt64BE(memberId, PREFIX.length);
  k[PREFIX.length + 8] = type;
  return k;
}

export class AlarmStore {
  readonly #alarms = new Map<string, etcdserverpb.AlarmMember>();

  /** Loads the alarms of `engine`. */
  static load(engine: Engine): AlarmStore {
    const s = new AlarmStore();
    const end = Buffer.from(PREFIX);
    end[end.length - 1]++;
    for (const [k] of engine.iterateSync("meta", { gte: PREFIX, lt: end, values: false })) {
      if (k.length !== PREFIX.length + 9) continue;
      const memberID = k.readBigUInt64BE(PREFIX.length);
      const alarm = k[PREFIX.length + 8] as etcdserverpb.AlarmType;
      s.#alarms.set(`${memberID}/${alarm}`, { memberID, alarm });
    }
    return s;
  }

  /** Active alarms, optionally of one type (NONE: all). */
  list(type: etcdserverpb.AlarmType = etcdserverpb.AlarmType.NONE): etcdserverpb.AlarmMember[] {
    return [...this.#alarms.values()]
      .filter((a) => type === etcdserverpb.AlarmType.NONE || a.alarm === type)
      .map((a) => ({ ...a }));
  }

  /** Applies an Alarm request; returns the alarms the response reports. */
  apply(batch: WriteBatch, req: etcdserverpb.AlarmRequest): etcdserverpb.AlarmMember[] {
    const A = etcdserverpb.AlarmRequest_AlarmAction;
    const key = `${req.memberID}/${req.alarm}`;
    switch (req.action) {
      case A.ACTIVATE: {
        if (req.alarm === etcdserverpb.AlarmType.NONE) return [];
        const m = { memberID: req.memberID, alarm: req.alarm };
        if (!this.#alarms.has(key)) {
          batch.put("meta", alarmKey(req.memberID, req.alarm), EMPTY);
          this.#alarms.set(key, m);
        }
        return [{ ...m }];
      }
      case A.DEACTIVATE: {
        const m = this.#alarms.get(key);
        if (m === undefined) return [];
        batch.del("meta", alarmKey(req.memberID, req.alarm));
        this.#alarms.delete(key);
        return [{ ...m }];
      }
      default:
        return this.list(req.alarm);
    }
  }
}
