/**
 * grpc-js dials TLS with `servername` set to the target host even when it is an IP
 * address (peer URLs usually are), and Node then prints DEP0123 ("Setting the TLS
 * ServerName to an IP address is not permitted by RFC 6066") to stderr, outside the
 * structured log. Nothing is wrong with the connection (the certificate is still checked
 * against the IP in its SANs), so the member process drops exactly that warning.
 */

let installed = false;

/** Drops Node's DEP0123 warning for this process; every other warning is untouched. */
export function dropIpServernameWarning(): void {
  if (installed) return;
  installed = true;
  const emit = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const opt = rest[0];
    const code =
      typeof opt === "object" && opt !== null
        ? (opt as { code?: string }).code
        : typeof rest[1] === "string"
          ? rest[1]
          : undefined;
    if (code === "DEP0123") return;
    (emit as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}
