// Test support (not a test file, not part of the build): a generic wire
// compatibility check between protobufjs (driven by a .proto schema) and our
// ts-proto generated code. Used by etcd3-compat.test.ts and peer-protocol.test.ts.
import path from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/** packages/api/proto */
export const ourProtoDir = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../proto",
);

/**
 * Parses .proto texts into one root, in the given order (a file's imports must come
 * before it); import lines are dropped, since everything lands in the same root.
 */
export function parseProtoTexts(texts: string[]): protobuf.Root {
  const root = new protobuf.Root();
  for (const text of texts) {
    protobuf.parse(text.replace(/^import .*$/gm, ""), root, { keepCase: true });
  }
  root.resolveAll();
  return root;
}

/** Loads our .proto files (and their imports) with protobufjs. */
export function loadOurProtos(...entries: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(ourProtoDir, target);
  root.loadSync(entries, { keepCase: true });
  root.resolveAll();
  return root;
}

export function allTypes(ns: protobuf.NamespaceBase): protobuf.Type[] {
  return ns.nestedArray.flatMap((o) => {
    if (o instanceof protobuf.Type) return [o, ...allTypes(o)];
    if (o instanceof protobuf.Namespace) return allTypes(o);
    return [];
  });
}

export function allOf<T>(ns: protobuf.NamespaceBase, ctor: abstract new (...a: never[]) => T): T[] {
  return ns.nestedArray.flatMap((o) => [
    ...(o instanceof ctor ? [o as T] : []),
    ...(o instanceof protobuf.Namespace || o instanceof protobuf.Type ? allOf(o, ctor) : []),
  ]);
}

export const fullName = (o: protobuf.ReflectionObject) => o.fullName.replace(/^\./, "");

// --- our generated code, looked up by protobuf full name ---------------------

interface Fns {
  encode(message: unknown): { finish(): Uint8Array };
  decode(input: Uint8Array): Record<string, unknown>;
  fromPartial(object: unknown): Record<string, unknown>;
}

/** Generated modules by protobuf package name, e.g. { mvccpb: await import(...) }. */
export type GeneratedModules = Record<string, Record<string, unknown>>;

function ourFns(type: protobuf.Type, modules: GeneratedModules): Fns {
  const name = fullName(type);
  const pkg = Object.keys(modules)
    .filter((p) => name.startsWith(`${p}.`))
    .sort((a, b) => b.length - a.length)[0];
  const local = pkg === undefined ? "" : name.slice(pkg.length + 1).replaceAll(".", "_");
  const fns = pkg === undefined ? undefined : (modules[pkg][local] as Fns | undefined);
  if (fns === undefined || typeof fns.decode !== "function") {
    throw new Error(`no generated message for ${name}`);
  }
  return fns;
}

/** ts-proto's property name for a proto field name (snakeToCamel). */
const camel = (name: string) => name.replace(/_(\w)/g, (_m, c: string) => c.toUpperCase());

// --- the filler --------------------------------------------------------------

const MAX_DEPTH = 4;
const INT64 = new Set(["int64", "sint64", "sfixed64"]);
const UINT64 = new Set(["uint64", "fixed64"]);

/** Fills every field of `type` with distinct non-default values (protobufjs plain form). */
export class Filler {
  private n = 0;
  constructor(private readonly variant: number) {}

  message(type: protobuf.Type, depth = 0): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const field of type.fieldsArray) {
      field.resolve();
      const oneof = field.partOf;
      if (oneof && oneof.fieldsArray[this.variant % oneof.fieldsArray.length] !== field) continue;
      if (field.resolvedType instanceof protobuf.Type && depth >= MAX_DEPTH) continue;
      out[field.name] = field.repeated
        ? [this.value(field, depth), this.value(field, depth)]
        : this.value(field, depth);
    }
    return out;
  }

  private value(field: protobuf.Field, depth: number): unknown {
    const n = ++this.n;
    const t = field.resolvedType;
    if (t instanceof protobuf.Type) return this.message(t, depth + 1);
    if (t instanceof protobuf.Enum) {
      const nonZero = Object.values(t.values).filter((v) => v !== 0);
      return nonZero[n % nonZero.length];
    }
    if (INT64.has(field.type)) {
      // Alternate large positive and negative values, both beyond 2^53.
      return n % 2 === 1 ? String(2n ** 62n + BigInt(n)) : String(-(2n ** 53n) - BigInt(n));
    }
    if (UINT64.has(field.type)) return String(2n ** 64n - 1n - BigInt(n));
    switch (field.type) {
      case "uint32":
      case "fixed32":
        return 4_000_000_000 + n;
      case "int32":
      case "sint32":
      case "sfixed32":
        return -1_000_000 - n;
      case "double":
      case "float":
        return n + 0.5;
      case "bool":
        return true;
      case "string":
        return `s${n}-é✓`;
      case "bytes":
        return Buffer.from([n & 0xff, 0, 0xff, (n >> 8) & 0xff, 0x80]);
      default:
        throw new Error(`filler: unhandled type ${field.type} of ${fullName(field)}`);
    }
  }
}

/** How many variants cover every member of every oneof. */
export function variantCount(types: protobuf.Type[]): number {
  return Math.max(1, ...types.flatMap((t) => t.oneofsArray.map((o) => o.fieldsArray.length)));
}

// --- normalized JSON form ----------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const PBJS_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  bytes: String,
  defaults: false,
  arrays: false,
};

/** The normalized form of a protobufjs message (via toObject), keyed by proto names. */
export function normPbjs(type: protobuf.Type, message: protobuf.Message): Json {
  return type.toObject(message, PBJS_OBJECT) as Json;
}

/**
 * The normalized form of a ts-proto message, driven by the protobufjs schema: proto field
 * names as keys, 64-bit integers as decimal strings, bytes as base64, enums as
 * numbers, proto3 defaults left out (except for a set oneof member). A value of the
 * wrong JavaScript type shows up as a "!type" marker, so it never compares equal.
 */
function normOurs(type: protobuf.Type, message: Record<string, unknown>): Json {
  const out: Record<string, Json> = {};
  for (const field of type.fieldsArray) {
    let raw: unknown;
    if (field.partOf) {
      const union = message[camel(field.partOf.name)] as
        | { $case: string; value: unknown }
        | undefined;
      raw = union?.$case === camel(field.name) ? union.value : undefined;
    } else {
      raw = message[camel(field.name)];
    }
    if (raw === undefined) continue;
    if (field.repeated) {
      if (!Array.isArray(raw)) out[field.name] = `!${typeof raw}`;
      else if (raw.length > 0) out[field.name] = raw.map((v) => normValue(field, v));
      continue;
    }
    const v = normValue(field, raw);
    const isDefault = v === 0 || v === "0" || v === "" || v === false;
    if (field.partOf || !isDefault) out[field.name] = v;
  }
  return out;
}

function normValue(field: protobuf.Field, v: unknown): Json {
  const t = field.resolvedType;
  if (t instanceof protobuf.Type) {
    return v !== null && typeof v === "object"
      ? normOurs(t, v as Record<string, unknown>)
      : `!${typeof v}`;
  }
  if (INT64.has(field.type) || UINT64.has(field.type)) {
    return typeof v === "bigint" ? v.toString() : `!${typeof v}`;
  }
  if (field.type === "bytes") return Buffer.isBuffer(v) ? v.toString("base64") : `!${typeof v}`;
  if (field.type === "string") return typeof v === "string" ? v : `!${typeof v}`;
  if (field.type === "bool") return typeof v === "boolean" ? v : `!${typeof v}`;
  return typeof v === "number" ? v : `!${typeof v}`;
}

/** Converts a protobufjs plain object (from the filler) into ts-proto's shape. */
function toOurs(type: protobuf.Type, plain: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (!(field.name in plain)) continue;
    const conv = (v: unknown): unknown => {
      const t = field.resolvedType;
      if (t instanceof protobuf.Type) return toOurs(t, v as Record<string, unknown>);
      if (INT64.has(field.type) || UINT64.has(field.type)) return BigInt(v as string);
      return v;
    };
    const raw = plain[field.name];
    const value = Array.isArray(raw) ? raw.map(conv) : conv(raw);
    if (field.partOf) out[camel(field.partOf.name)] = { $case: camel(field.name), value };
    else out[camel(field.name)] = value;
  }
  return out;
}

// --- the check ---------------------------------------------------------------

/** Round-trips one filled instance of `type` both ways; returns the mismatches. */
export function checkType(
  type: protobuf.Type,
  modules: GeneratedModules,
  variants: number,
): string[] {
  const problems: string[] = [];
  const fns = ourFns(type, modules);
  for (let variant = 0; variant < variants; variant++) {
    const plain = new Filler(variant).message(type);
    const theirs = type.fromObject(plain);
    const expected = normPbjs(type, theirs);
    const at = `${fullName(type)} (variant ${variant})`;

    // They encode, we decode.
    const decodedByUs = fns.decode(type.encode(theirs).finish());
    const a = normOurs(type, decodedByUs);
    if (JSON.stringify(a) !== JSON.stringify(expected)) {
      problems.push(
        `${at} theirs→ours\n  want ${JSON.stringify(expected)}\n  got  ${JSON.stringify(a)}`,
      );
    }

    // We encode, they decode.
    const ours = fns.fromPartial(toOurs(type, plain));
    const b = normPbjs(type, type.decode(fns.encode(ours).finish()));
    if (JSON.stringify(b) !== JSON.stringify(expected)) {
      problems.push(
        `${at} ours→theirs\n  want ${JSON.stringify(expected)}\n  got  ${JSON.stringify(b)}`,
      );
    }
  }
  return problems;
}

/** Checks every message type of `root` against the generated code. */
export function checkAll(
  root: protobuf.Root,
  modules: GeneratedModules,
): { checked: number; problems: string[] } {
  const types = allTypes(root);
  const variants = variantCount(types);
  return {
    checked: types.length,
    problems: types.flatMap((t) => checkType(t, modules, variants)),
  };
}

// --- schema comparison -------------------------------------------------------

function describeField(f: protobuf.Field): string {
  f.resolve();
  const type = f.resolvedType ? fullName(f.resolvedType) : f.type;
  const label = f.repeated ? "repeated " : "";
  return `${label}${type} = ${f.id}${f.partOf ? ` (oneof ${f.partOf.name})` : ""}`;
}

/**
 * Compares two schemas: every message, field (number, type, label, oneof), enum
 * (values by number) and service of `theirs` must exist identically in `ours`;
 * fields only in `ours` are reported unless listed in `allowedExtraFields`.
 */
export function compareSchemas(
  theirs: protobuf.Root,
  ours: protobuf.Root,
  allowedExtraFields: ReadonlySet<string> = new Set(),
): string[] {
  const problems: string[] = [];
  for (const t of allTypes(theirs)) {
    const o = ours.lookup(fullName(t));
    if (!(o instanceof protobuf.Type)) {
      problems.push(`missing message ${fullName(t)}`);
      continue;
    }
    for (const f of t.fieldsArray) {
      const of = o.fields[f.name];
      if (of === undefined) problems.push(`missing field ${fullName(f)}`);
      else if (describeField(of) !== describeField(f)) {
        problems.push(`${fullName(f)}: ours ${describeField(of)}, theirs ${describeField(f)}`);
      }
    }
    for (const of of o.fieldsArray) {
      if (t.fields[of.name] === undefined && !allowedExtraFields.has(fullName(of))) {
        problems.push(`extra field ${fullName(of)}`);
      }
    }
  }
  for (const e of allOf(theirs, protobuf.Enum)) {
    const o = ours.lookup(fullName(e));
    const nums = (x: protobuf.Enum) => JSON.stringify(Object.values(x.values).sort());
    // Only numbers reach the wire (the etcd3 package's copy renames PUT to Put).
    if (!(o instanceof protobuf.Enum)) problems.push(`missing enum ${fullName(e)}`);
    else if (nums(o) !== nums(e)) problems.push(`enum ${fullName(e)}: ${nums(o)} vs ${nums(e)}`);
  }
  for (const s of allOf(theirs, protobuf.Service)) {
    const o = ours.lookup(fullName(s));
    const sig = (x: protobuf.Service) =>
      x.methodsArray.map((m) => {
        m.resolve();
        const req = `${m.requestStream ? "stream " : ""}${fullName(m.resolvedRequestType!)}`;
        const res = `${m.responseStream ? "stream " : ""}${fullName(m.resolvedResponseType!)}`;
        return `${m.name}(${req}) ${res}`;
      });
    if (!(o instanceof protobuf.Service)) problems.push(`missing service ${fullName(s)}`);
    else if (JSON.stringify(sig(o)) !== JSON.stringify(sig(s))) {
      problems.push(
        `service ${fullName(s)}: ours ${sig(o).join(", ")}; theirs ${sig(s).join(", ")}`,
      );
    }
  }
  return problems;
}
