/**
 * A receive-only Socket.IO client for measuring fan-out: a raw websocket that speaks just enough
 * of the Engine.IO/Socket.IO protocol to authenticate, answer pings and count event frames,
 * without decoding them. socket.io-client decodes every packet in JavaScript, so with a thousand
 * of them in one process the load generator, not the service, would set the pace.
 */
export type LiteSocket = {
  ws: WebSocket;
  /** The `connected` frame as it came over the wire (UTF-8 bytes). */
  connectedBytes: number;
  count(prefix: string): number;
  onFrame(listener: (frame: string) => void): void;
  close(): void;
};

export function connectLite(httpUrl: string, token: string): Promise<LiteSocket> {
  const url = `${httpUrl.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const listeners: ((frame: string) => void)[] = [];
    const counts = new Map<string, number>();
    const timer = setTimeout(() => reject(new Error("lite connect timeout")), 30_000);
    let ready = false;
    ws.onmessage = (e) => {
      const frame = String(e.data);
      if (frame === "2") return ws.send("3"); // Engine.IO ping → pong
      if (frame.startsWith("0")) return ws.send(`40${JSON.stringify({ token })}`);
      if (frame.startsWith("44")) return reject(new Error(`refused: ${frame}`));
      if (!ready && frame.startsWith('42["connected"')) {
        ready = true;
        socket.connectedBytes = Buffer.byteLength(frame);
        clearTimeout(timer);
        resolve(socket);
        return;
      }
      for (const l of listeners) l(frame);
    };
    ws.onerror = () => reject(new Error("lite websocket failed"));
    const socket: LiteSocket = {
      ws,
      connectedBytes: 0,
      count: (prefix) => counts.get(prefix) ?? 0,
      onFrame: (l) => listeners.push(l),
      close: () => ws.close(),
    };
  });
}
