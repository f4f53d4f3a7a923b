/**
 * TLS settings of one side of a member (the client port or the peer port), as resolved
 * from etcd's flags (config-tls.ts). Plain data: the files are read when the member
 * starts (tls-material.ts) and re-read when they change.
 */
export interface TlsOptions {
  /** PEM certificate (chain) this member presents. Empty with {@link autoTls}. */
  certFile: string;
  /** PEM private key of {@link certFile}. */
  keyFile: string;
  /**
   * PEM CA bundle: verifies client certificates (client side) or the other members'
   * certificates (peer side). Empty: Node's built-in roots.
   */
  trustedCaFile: string;
  /** Require and verify a certificate from whoever connects (etcd --client-cert-auth). */
  clientCertAuth: boolean;
  /**
   * Generate a self-signed certificate into the data dir at start (etcd --auto-tls).
   * Encrypts but does not authenticate: dialing peers do not verify it.
   */
  autoTls: boolean;
  /** Validity of a generated certificate, in years. */
  selfSignedCertValidityYears: number;
  /** Peer side only: accept only peer certificates with this Common Name. */
  allowedCn?: string;
  minVersion: "TLSv1.2" | "TLSv1.3";
  maxVersion?: "TLSv1.2" | "TLSv1.3";
}
