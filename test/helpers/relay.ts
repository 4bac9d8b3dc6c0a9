import net from "node:net";

/**
 * A TCP relay to `target` that can be cut (every connection through it dropped, new ones refused,
 * as by a server that stopped) and restored: a backing service goes away for one service under
 * test only.
 */
export async function tcpRelay(target: URL) {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  };
  const server = net.createServer((client) => {
    track(client);
    const upstream = net.connect(Number(target.port), target.hostname);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  const port = (server.address() as net.AddressInfo).port;
  url.port = String(port);
  let cut = false;
  return {
    url: url.toString(),
    cut() {
      cut = true;
      server.close();
      for (const socket of sockets) socket.destroy();
    },
    async restore() {
      if (!cut) return;
      cut = false;
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    },
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
