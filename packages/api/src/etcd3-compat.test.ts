// Wire compatibility with a real etcd client's protocol definitions.
//
// The etcd3 npm package ships etcd's .proto files. For every message type they
// define, a generic filler builds an instance with a non-default value in every
// field (distinct values, nested messages, two items per repeated field, non-zero
// enums, 64-bit values beyond 2^53, one variant per oneof member). The instance is
// encoded by protobufjs (etcd3's side) and decoded by our generated code, and the
// other way round, and both results are compared field by field in a normalized
// JSON form. A differing field number or type makes the comparison fail (see the
// negative controls at the end). The schemas themselves (field numbers, types,
// labels, oneofs, enum values, services) are compared too.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import {
  allOf,
  checkAll,
  checkType,
  compareSchemas,
  type GeneratedModules,
  loadOurProtos,
  parseProtoTexts,
} from "./__tests__/wire-check.js";
import * as authpb from "./gen/etcd/authpb/auth.js";
import * as etcdserverpb from "./gen/etcd/etcdserverpb/rpc.js";
import * as mvccpb from "./gen/etcd/mvccpb/kv.js";

const require = createRequire(import.meta.url);
const etcd3ProtoDir = path.join(path.dirname(require.resolve("etcd3/package.json")), "proto");
const modules: GeneratedModules = { mvccpb, authpb, etcdserverpb };

/** Fields of etcd v3.5 that the etcd3 package's (older) copy lacks. */
const KNOWN_NEWER_FIELDS = new Set([
  "etcdserverpb.AuthUserAddRequest.hashedPassword",
  "etcdserverpb.AuthUserChangePasswordRequest.hashedPassword",
]);

/** etcd3's kv.proto, auth.proto and rpc.proto, optionally with one file's text replaced. */
function loadEtcd3(replace?: { file: string; from: string; to: string }): protobuf.Root {
  return parseProtoTexts(
    ["kv.proto", "auth.proto", "rpc.proto"].map((file) => {
      const text = readFileSync(path.join(etcd3ProtoDir, file), "utf8");
      if (replace?.file !== file) return text;
      const changed = text.replace(replace.from, replace.to);
      expect(changed, `${file} contains ${replace.from}`).not.toBe(text);
      return changed;
    }),
  );
}

const loadOurs = () => loadOurProtos("etcd/etcdserverpb/rpc.proto");

describe("wire compatibility with the etcd3 package's protos", () => {
  const etcd3 = loadEtcd3();

  it("our .proto files define every etcd3 message, field, enum and service identically", () => {
    expect(compareSchemas(etcd3, loadOurs(), KNOWN_NEWER_FIELDS)).toEqual([]);
    expect(allOf(etcd3, protobuf.Service).map((s) => s.name)).toEqual([
      "KV",
      "Watch",
      "Lease",
      "Cluster",
      "Maintenance",
      "Auth",
    ]);
  });

  it("every etcd3 message round-trips through our generated code in both directions", () => {
    const { checked, problems } = checkAll(etcd3, modules);
    console.log(`etcd3 compatibility: ${checked} message types checked in both directions`);
    expect(checked).toBeGreaterThanOrEqual(100);
    expect(problems).toEqual([]);
  });

  it("notices a differing field number (negative control)", () => {
    const root = loadEtcd3({
      file: "kv.proto",
      from: "int64 mod_revision = 3;",
      to: "int64 mod_revision = 9;",
    });
    expect(checkType(root.lookupType("mvccpb.KeyValue"), modules, 1)).toHaveLength(2);
    expect(compareSchemas(root, loadOurs(), KNOWN_NEWER_FIELDS)).toContain(
      "mvccpb.KeyValue.mod_revision: ours int64 = 3, theirs int64 = 9",
    );
  });

  it("notices a differing field type on the same wire type (negative control)", () => {
    const root = loadEtcd3({ file: "kv.proto", from: "int64 lease = 6;", to: "sint64 lease = 6;" });
    expect(checkType(root.lookupType("mvccpb.KeyValue"), modules, 1)).toHaveLength(2);
    expect(compareSchemas(root, loadOurs(), KNOWN_NEWER_FIELDS)).toContain(
      "mvccpb.KeyValue.lease: ours int64 = 6, theirs sint64 = 6",
    );
  });

  it("notices a differing message type inside a oneof (negative control)", () => {
    const root = loadEtcd3({
      file: "rpc.proto",
      from: "RangeRequest request_range = 1;",
      to: "PutRequest request_range = 1;",
    });
    expect(checkType(root.lookupType("etcdserverpb.RequestOp"), modules, 1).length).toBeGreaterThan(
      0,
    );
    expect(compareSchemas(root, loadOurs(), KNOWN_NEWER_FIELDS)).toContain(
      "etcdserverpb.RequestOp.request_range: ours etcdserverpb.RangeRequest = 1 (oneof request), " +
        "theirs etcdserverpb.PutRequest = 1 (oneof request)",
    );
  });
});
