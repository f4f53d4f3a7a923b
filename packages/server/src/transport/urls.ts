/** Turns an etcd-style URL ("http://127.0.0.1:2380") into a gRPC target ("127.0.0.1:2380"). */
export function grpcTarget(url: string): string {
  const u = new URL(url);
  const port = u.port !== "" ? u.port : u.protocol === "https:" ? "443" : "80";
  return `${u.hostname}:${port}`;
}
