/**
 * The member's logger: pino, one JSON object per line on stderr by default (like etcd's
 * zap logger), human-readable text only when asked (`--log-format pretty`).
 *
 * Lines carry `level` as a label ("info"), `time` as ISO-8601 and the message in `msg`:
 * `{"level":"info","time":"...","name":"n1","msg":"ready to serve client requests"}`.
 * Tests use {@link silentLogger}.
 */
import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";
import pretty from "pino-pretty";
import type { MemberOptions } from "./member-options.js";

/** The log levels accepted by --log-level (etcd's names; "panic" and "dpanic" mean fatal). */
export type LogLevel = MemberOptions["logLevel"];

/** --log-format. */
export type LogFormat = "json" | "pretty";

export interface LoggerConfig {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go. Default: stderr (fd 2), written synchronously so none is lost on exit. */
  destination?: DestinationStream;
  /** Fields on every line (e.g. `{ name: "n1" }`). */
  base?: Record<string, unknown>;
}

/** A pino logger configured as described in the module comment. */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { pid: process.pid, ...config.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (config.format === "pretty") {
    const stream =
      config.destination ??
      pretty({
        colorize: process.stderr.isTTY === true,
        destination: 2,
        sync: true,
        ignore: "pid,hostname",
        translateTime: "SYS:HH:MM:ss.l",
      });
    return pino(options, stream);
  }
  return pino(options, config.destination ?? pino.destination({ fd: 2, sync: true }));
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
