/**
 * Placeholders for etcd services that are not implemented yet: every method answers
 * UNIMPLEMENTED with a message naming it ("chainfire: Watch.Watch is not implemented
 * yet"), streams included, so clients get a clear, non-retryable error instead of a
 * connection that hangs. Each is replaced by the real service when it lands (see
 * services/index.ts).
 */
import { status, type UntypedHandleCall, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { grpcError, NotImplementedError } from "./errors.js";
import { grpcType, type ServiceShape, splitPath } from "./interceptors.js";

/** An implementation of every method of `definition` that answers UNIMPLEMENTED. */
export function unimplementedService(definition: ServiceShape): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const [service, rpc] = splitPath(method.path);
    const what = `${service.replace(/^etcdserverpb\./, "")}.${rpc}`;
    const type = grpcType(method);
    if (type === "unary" || type === "client_stream") {
      impl[name] = ((_call: unknown, callback: (err: unknown) => void) => {
        callback(new NotImplementedError(what));
      }) as UntypedHandleCall;
    } else {
      const message = new NotImplementedError(what).message;
      impl[name] = ((call: { emit(event: string, err: unknown): void }) => {
        call.emit("error", grpcError(status.UNIMPLEMENTED, message));
      }) as UntypedHandleCall;
    }
  }
  return impl;
}
