/**
 * The leader's side of Peer.Forward / Peer.ForwardStream (peer.proto): requests another
 * member forwards because only the leader can serve them (lease keep-alives and
 * TimeToLive; the sending side is lease/leader-forwarder.ts). The transport checks the
 * sender's cluster id and hands `(method, request bytes)` to the member's
 * {@link ForwardHandler}; whatever it throws travels back as a ForwardError (an
 * EtcdError keeps its code and etcd's text; anything else is INTERNAL and logged).
 */
import { ErrClusterIdMismatch, EtcdError, type peerpb } from "@chainfire/api";
import {
  type ServerDuplexStream,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import type { Logger } from "pino";

/**
 * Serves one forwarded request: resolves with the serialized answer. `signal` aborts when
 * the sender gives up (its timeout, a cancelled stream) or the member stops.
 */
export type ForwardHandler = (
  method: string,
  request: Uint8Array,
  signal: AbortSignal,
) => Promise<Uint8Array>;

/** What the forward handlers need from the member. */
export interface ForwardHost {
  identity(): { clusterId: bigint };
  /** Undefined: forwarding is refused with UNIMPLEMENTED. */
  readonly forward?: ForwardHandler;
  readonly logger: Logger;
}

/** The Forward and ForwardStream handlers of the Peer service. */
export function forwardHandlers(
  host: ForwardHost,
): Pick<peerpb.PeerServer, "forward" | "forwardStream"> {
  const refusal = (req: peerpb.ForwardRequest): EtcdError | undefined => {
    const local = host.identity().clusterId;
    if (req.clusterId === local) return undefined;
    host.logger.error(
      {
        peer: req.from.toString(16),
        localClusterId: local.toString(16),
        remoteClusterId: req.clusterId.toString(16),
      },
      "etcdserver: cluster ID mismatch: refusing a forwarded request of another cluster",
    );
    return new EtcdError(ErrClusterIdMismatch);
  };

  const serve = async (
    req: peerpb.ForwardRequest,
    signal: AbortSignal,
  ): Promise<peerpb.ForwardResponse> => {
    const handler = host.forward;
    try {
      if (handler === undefined) {
        throw new EtcdError(status.UNIMPLEMENTED, "chainfire: forwarding is not served here");
      }
      const s =
        req.timeoutMs > 0 ? AbortSignal.any([signal, AbortSignal.timeout(req.timeoutMs)]) : signal;
      const response = await handler(req.method, req.request, s);
      return { id: req.id, response: Buffer.from(response), error: undefined };
    } catch (err) {
      let code: number = status.INTERNAL;
      let message = `chainfire: internal error: ${(err as Error)?.message ?? String(err)}`;
      if (err instanceof EtcdError) {
        code = err.code;
        message = err.message;
      } else {
        host.logger.error({ err, method: req.method }, "bug: a forwarded request failed");
      }
      return { id: req.id, response: Buffer.alloc(0), error: { code, message } };
    }
  };

  return {
    forward(
      call: ServerUnaryCall<peerpb.ForwardRequest, peerpb.ForwardResponse>,
      callback: sendUnaryData<peerpb.ForwardResponse>,
    ) {
      const refused = refusal(call.request);
      if (refused) return callback(refused);
      const ac = new AbortController();
      call.once("cancelled", () => ac.abort());
      void serve(call.request, ac.signal).then((res) => callback(null, res));
    },

    forwardStream(call: ServerDuplexStream<peerpb.ForwardRequest, peerpb.ForwardResponse>) {
      const ac = new AbortController();
      let inflight = 0;
      let ended = false;
      let failed = false;
      const gone = () => call.cancelled || call.destroyed || call.writableEnded;
      const maybeEnd = () => {
        if (ended && inflight === 0 && !failed && !gone()) call.end();
      };
      call.on("cancelled", () => ac.abort());
      call.on("error", () => ac.abort());
      call.on("data", (req: peerpb.ForwardRequest) => {
        if (failed) return;
        const refused = refusal(req);
        if (refused) {
          failed = true;
          ac.abort();
          call.emit("error", refused);
          return;
        }
        inflight++;
        void serve(req, ac.signal).then((res) => {
          inflight--;
          if (!failed && !gone()) call.write(res);
          maybeEnd();
        });
      });
      call.on("end", () => {
        ended = true;
        maybeEnd();
      });
    },
  };
}
