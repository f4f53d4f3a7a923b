/**
 * Username/password authentication: the client calls Authenticate once, sends the
 * token it gets in the `token` metadata of every request, and fetches a new one when a
 * member answers "etcdserver: invalid auth token" (tokens expire, and a restarted
 * member forgets simple tokens).
 *
 * @module
 */
import { etcdserverpb } from "@chainfire/api";
import { Metadata } from "@grpc/grpc-js";
import type { Connection } from "./connection-pool.js";
import { fromStatus } from "./errors.js";

/** Username and password for etcd's built-in authentication. */
export interface AuthOptions {
  username: string;
  password: string;
}

/** Holds the current token; one Authenticate at a time. */
export class TokenSource {
  private value: string | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly credentials: AuthOptions) {}

  /** The current token, authenticating on `conn` if there is none. */
  get(conn: Connection, deadline: number): Promise<string> {
    if (this.value !== undefined) return Promise.resolve(this.value);
    this.pending ??= authenticate(conn, this.credentials, deadline).then(
      (token) => {
        this.value = token;
        this.pending = undefined;
        return token;
      },
      (error: unknown) => {
        this.pending = undefined;
        throw error;
      },
    );
    return this.pending;
  }

  /** Forgets `stale` if it is still the current token, so that the next call re-authenticates. */
  invalidate(stale: string): void {
    if (this.value === stale) this.value = undefined;
  }
}

function authenticate(conn: Connection, creds: AuthOptions, deadline: number): Promise<string> {
  return new Promise((resolve, reject) => {
    conn.services().auth.authenticate(
      etcdserverpb.AuthenticateRequest.fromPartial({
        name: creds.username,
        password: creds.password,
      }),
      new Metadata(),
      { deadline },
      (error, response) => {
        if (error) reject(fromStatus(error, conn.url));
        else resolve(response.token);
      },
    );
  });
}
