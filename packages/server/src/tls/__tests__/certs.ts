/**
 * Test certificates: deploy/tls/gen-dev-certs.sh (openssl) into a temp dir. Each call
 * makes a new CA, so two calls give two CAs that do not trust each other.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "../../../../../deploy/tls/gen-dev-certs.sh",
);

/** Why certificates cannot be made here, or undefined. */
export function certsUnavailable(): string | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "openssl is not installed (.ci/run installs it)";
  }
}

/** A directory of certificates for `members` plus client.pem (CN `clientCn`). */
export class TestCerts {
  private constructor(readonly dir: string) {}

  static make(members: readonly string[] = ["n1"], clientCn = "root"): TestCerts {
    const dir = mkdtempSync(join(tmpdir(), "chainfire-certs-"));
    execFileSync("bash", [SCRIPT, dir, ...members], {
      stdio: "pipe",
      env: { ...process.env, CLIENT_CN: clientCn, DAYS: "2" },
    });
    return new TestCerts(dir);
  }

  path(file: string): string {
    return join(this.dir, file);
  }

  read(file: string): Buffer {
    return readFileSync(this.path(file));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
