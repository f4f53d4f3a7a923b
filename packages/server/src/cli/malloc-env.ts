/**
 * glibc malloc settings a member should run with. They must be in the environment when
 * the process starts (glibc reads them once), so every way we start a member sets them:
 * local-cluster here, the systemd unit, the NixOS module, the container image, the test
 * harness. Node 20 has no execve, so the CLI cannot re-exec itself with them without
 * leaving a second process in front of the member; it warns instead (docs/performance.md).
 *
 * - MALLOC_ARENA_MAX=2: glibc otherwise makes up to 8 arenas per core for RocksDB's and
 *   libuv's threads, each keeping freed memory.
 * - MALLOC_MMAP_THRESHOLD_=131072: blocks of 128 KiB and more (RocksDB's memtable arenas,
 *   block reads, large Buffers) come from mmap and go back to the OS when freed; without
 *   it the threshold adapts upwards and freed memtables stay resident (bench:memory, 1M
 *   keys: 227-248 MB per member without both settings, 181-208 MB with them).
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "131072",
};

/** The names of {@link MALLOC_ENV} missing from `env`. */
export function missingMallocEnv(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(MALLOC_ENV).filter((k) => env[k] === undefined);
}
