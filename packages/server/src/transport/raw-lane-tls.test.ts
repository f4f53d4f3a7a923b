/**
 * Raw raft lanes to an https:// peer URL: the same certificates and checks as the gRPC
 * peer traffic (the CA verifies both sides, --peer-cert-allowed-cn on the listener).
 */
import type { Server as NetServer } from "node:net";
import { raftpb } from "@chainfire/api";
import type { Message } from "@chainfire/raft";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certsUnavailable, TestCerts } from "../tls/__tests__/certs.js";
import { createUrlServer, listenOnUrl } from "../tls/listen.js";
import { TlsMaterial } from "../tls/tls-material.js";
import type { TlsOptions } from "../tls/tls-options.js";
import { PROTOCOL_VERSION } from "./peer-connection.js";
import { sniffConnection } from "./peer-sniff.js";
import { LaneKind } from "./raw-frame.js";
import { serveRawLane } from "./raw-lane-receiver.js";
import { RawLaneStream } from "./raw-lane-sender.js";

const skip = certsUnavailable();

describe.skipIf(skip !== undefined)("raw raft lanes over TLS", () => {
  let certs: TestCerts;
  const materials: TlsMaterial[] = [];
  const servers: NetServer[] = [];
  const load = async (name: string, extra: Partial<TlsOptions> = {}) => {
    const m = await TlsMaterial.load(
      {
        certFile: certs.path(`${name}.pem`),
        keyFile: certs.path(`${name}-key.pem`),
        trustedCaFile: certs.path("ca.pem"),
        clientCertAuth: true,
        autoTls: false,
        selfSignedCertValidityYears: 1,
        minVersion: "TLSv1.2",
        ...extra,
      },
      { fixturesDir: certs.dir, hosts: [], watch: false },
    );
    materials.push(m);
    return m;
  };

  beforeAll(() => {
    certs = TestCerts.make(["n1", "n2", "n3"]);
  });
  afterAll(() => {
    for (const s of servers) s.close();
    for (const m of materials) m.close();
    certs?.remove();
  });

  it("carries batches with verified certificates; the allowed CN is enforced", async () => {
    const stepped: Message[] = [];
    const host = {
      identity: () => ({
        clusterId: 1n,
        memberId: 1n,
        name: "n1",
        peerUrls: [],
        clientUrls: [],
        version: "test",
      }),
      step: (m: Message) => stepped.push(m),
      logger: pino({ level: "silent" }),
    };
    const server = createUrlServer(
      "https://127.0.0.1:0",
      await load("n1", { allowedCn: "n2" }),
      (s) =>
        sniffConnection(s, { grpc: (x) => x.destroy(), raw: (x, f) => serveRawLane(x, f, host) }),
    );
    servers.push(server);
    const url = await listenOnUrl(server, "https://127.0.0.1:0");
    const dial = (tls: TlsMaterial, from: bigint) =>
      new Promise<Error | null>((resolve) => {
        const lane = new RawLaneStream(
          url,
          tls,
          {
            protocolVersion: PROTOCOL_VERSION,
            lane: LaneKind.Control,
            clusterId: 1n,
            from,
            to: 1n,
          },
          resolve,
        );
        lane.write({
          clusterId: 1n,
          from,
          to: 1n,
          messages: [
            raftpb.Message.fromPartial({ type: raftpb.MessageType.MsgHeartbeat, from, to: 1n }),
          ],
        });
        if (from === 2n) {
          const deadline = Date.now() + 30_000;
          const poll = () => {
            if (stepped.length > 0) {
              lane.end();
              resolve(null);
            } else if (Date.now() > deadline) resolve(new Error("no message arrived"));
            else setTimeout(poll, 10);
          };
          poll();
        }
      });
    // n2 (the allowed CN) gets through.
    expect(await dial(await load("n2"), 2n)).toBeNull();
    expect(stepped.map((m) => m.from)).toEqual([2n]);
    // n3 is closed by the listener: its lane fails and nothing reaches raft.
    const refused = await dial(await load("n3"), 3n);
    expect(refused).toBeInstanceOf(Error);
    expect(stepped).toHaveLength(1);
    // Without TLS material an https:// peer cannot be dialed at all.
    expect(
      () =>
        new RawLaneStream(
          url,
          undefined,
          {
            protocolVersion: PROTOCOL_VERSION,
            lane: LaneKind.Bulk,
            clusterId: 1n,
            from: 2n,
            to: 1n,
          },
          () => {},
        ),
    ).toThrow(/no peer TLS/);
  });

  it("refuses a peer whose certificate another CA signed", async () => {
    const other = TestCerts.make(["n2"]);
    try {
      const host = {
        identity: () => ({
          clusterId: 1n,
          memberId: 1n,
          name: "n1",
          peerUrls: [],
          clientUrls: [],
          version: "t",
        }),
        step: () => {
          throw new Error("nothing may reach raft");
        },
        logger: pino({ level: "silent" }),
      };
      const server = createUrlServer("https://127.0.0.1:0", await load("n1"), (s) =>
        sniffConnection(s, { grpc: (x) => x.destroy(), raw: (x, f) => serveRawLane(x, f, host) }),
      );
      servers.push(server);
      const url = await listenOnUrl(server, "https://127.0.0.1:0");
      const foreign = await TlsMaterial.load(
        {
          certFile: other.path("n2.pem"),
          keyFile: other.path("n2-key.pem"),
          trustedCaFile: other.path("ca.pem"),
          clientCertAuth: true,
          autoTls: false,
          selfSignedCertValidityYears: 1,
          minVersion: "TLSv1.2",
        },
        { fixturesDir: other.dir, hosts: [], watch: false },
      );
      materials.push(foreign);
      const err = await new Promise<Error | null>((resolve) => {
        new RawLaneStream(
          url,
          foreign,
          {
            protocolVersion: PROTOCOL_VERSION,
            lane: LaneKind.Bulk,
            clusterId: 1n,
            from: 2n,
            to: 1n,
          },
          resolve,
        );
      });
      // Our side does not trust the listener's certificate either.
      expect(err?.message).toMatch(/certificate/i);
    } finally {
      other.remove();
    }
  });
});
