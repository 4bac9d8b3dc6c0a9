/**
 * A port nobody listens on, taken below the kernel's ephemeral range: a port the kernel hands
 * out for port 0 could be given to another process between this check and the child's bind.
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.stop(true);
      return port;
    } catch {}
  }
  throw new Error("no free port found");
}
