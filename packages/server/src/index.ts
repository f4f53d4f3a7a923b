/**
 * @chainfire/server: the Chainfire member process.
 *
 * Most people run it as the `chainfire` command (cli/main.ts). In-process use (tests,
 * embedding):
 *
 * ```ts
 * import { Member, resolveMemberConfig, startHttpServers } from "@chainfire/server";
 *
 * const { options } = resolveMemberConfig({ argv: ["--name=n1"], env: process.env });
 * const member = await Member.start(options);
 * const http = await startHttpServers(options.listenMetricsUrls, member);
 * await member.ready;
 * // ...
 * await http.close();
 * await member.close();
 * ```
 *
 * @module
 */
export { type ClientListener, listenForClients } from "./client-listener.js";
export {
  ConfigError,
  type ConfigInputs,
  type ConfigSource,
  type ResolvedConfig,
  resolveMemberConfig,
} from "./config.js";
export { ETCD_FOREIGN_FLAGS, type FlagSpec, MEMBER_FLAGS } from "./config-flags.js";
export { type HttpEndpoints, type HttpOptions, startHttpServers } from "./http.js";
export { createLogger, type LogFormat, type LoggerConfig, silentLogger } from "./log.js";
export { Member, type MemberDeps } from "./member.js";
export type { MemberContext, MemberInfo, MemberStatus } from "./member-context.js";
export { DEFAULT_MEMBER_OPTIONS, type MemberOptions } from "./member-options.js";
export { MemberMetrics } from "./metrics.js";
export { NotImplementedError, toGrpcError } from "./services/errors.js";
export { clientServerOptions, registerClientServices } from "./services/index.js";
export {
  CHAINFIRE_VERSION,
  ETCD_API_VERSION,
  ETCD_CLUSTER_VERSION,
  versionText,
} from "./version.js";
