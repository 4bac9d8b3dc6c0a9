/**
 * Baseline server: raw Bun.serve websockets, no Socket.IO, no auth, no database. Clients that
 * send "sub" join the topic; "pub:<n>:<size>" publishes n messages of `size` bytes to it with
 * Bun's native publish. Prints its port on stdout.
 */
const server = Bun.serve({
  hostname: process.env.HOST ?? "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch(req, srv) {
    if (srv.upgrade(req)) return undefined;
    return new Response("ws only", { status: 400 });
  },
  websocket: {
    idleTimeout: 120,
    open() {},
    message(ws, data) {
      const text = String(data);
      if (text === "sub") {
        ws.subscribe("room");
        ws.send("ok");
      } else if (text.startsWith("pub:")) {
        const [, n, size] = text.split(":");
        const payload = "x".repeat(Number(size));
        for (let i = 0; i < Number(n); i++) server.publish("room", payload);
      }
    },
  },
});
console.log(server.port);
