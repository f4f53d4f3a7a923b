/** The parsed `--auth-token` option (tokens.ts parses it; jwt.ts consumes it). */
export type TokenConfig =
  | { type: "simple" }
  | {
      type: "jwt";
      signMethod: string;
      /** PEM (or secret, for HS*) text. */
      privateKey?: string;
      publicKey?: string;
      ttlMs: number;
    };

/** A bad --auth-token value (the member refuses to start). */
export class AuthTokenOptionError extends Error {
  override readonly name = "AuthTokenOptionError";
}
