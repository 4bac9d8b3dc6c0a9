/**
 * A light Socket.IO client for the load generator: a raw websocket that speaks just enough of
 * the Engine.IO/Socket.IO protocol to authenticate, answer pings, hand event frames over without
 * decoding them, and send events with an ack. socket.io-client decodes every packet in
 * JavaScript, so with thousands of them in one process the load generator, not the service,
 * would set the pace.
 */
export type LiteSocket = {
  ws: WebSocket;
  /** The `connected` frame as it came over the wire (UTF-8 bytes). */
  connectedBytes: number;
  /** The `connected` event's payload: the user's conversation ids are its `rooms`. */
  connected: { userId: string; rooms: string[] };
  onFrame(listener: (frame: string) => void): void;
  /** Called once when the connection ends, whoever ended it. */
  onClose(listener: () => void): void;
  /** Sends an event and resolves with its ack (`{ ok, data | error }`); rejects on timeout or close. */
  emit(event: string, payload: unknown, timeoutMs?: number): Promise<any>;
  close(): void;
};

/** Why a connect failed: the service's refusal (`code` from its CONNECT_ERROR), or the transport. */
export class LiteConnectError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export function connectLite(httpUrl: string, token: string, timeoutMs = 30_000): Promise<LiteSocket> {
  const url = `${httpUrl.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const listeners: ((frame: string) => void)[] = [];
    const closeListeners: (() => void)[] = [];
    const acks = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }>();
    let nextAck = 0;
    const fail = (error: LiteConnectError) => {
      clearTimeout(timer);
      reject(error);
      ws.close();
    };
    const timer = setTimeout(() => fail(new LiteConnectError("lite connect timeout", "TIMEOUT")), timeoutMs);
    let ready = false;
    ws.onmessage = (e) => {
      const frame = String(e.data);
      if (frame === "2") return ws.send("3"); // Engine.IO ping → pong
      if (frame.startsWith("0")) return ws.send(`40${JSON.stringify({ token })}`);
      if (frame.startsWith("44")) {
        const refusal = JSON.parse(frame.slice(2)) as { message?: string; data?: { code?: string } };
        return fail(new LiteConnectError(`refused: ${frame}`, refusal.data?.code));
      }
      if (frame.startsWith("43")) {
        // ACK: 43<id>[answer]
        const open = frame.indexOf("[");
        const id = Number(frame.slice(2, open));
        const pending = acks.get(id);
        if (pending) {
          acks.delete(id);
          clearTimeout(pending.timer);
          pending.resolve((JSON.parse(frame.slice(open)) as unknown[])[0]);
        }
        return;
      }
      if (!ready && frame.startsWith('42["error"')) {
        // The service's setup failed after the handshake (its conversation list, say): it says why, then disconnects.
        const error = (JSON.parse(frame.slice(2)) as [string, { code?: string }])[1];
        return fail(new LiteConnectError(`setup failed: ${frame}`, error.code));
      }
      if (!ready && frame.startsWith('42["connected"')) {
        ready = true;
        socket.connectedBytes = Buffer.byteLength(frame);
        clearTimeout(timer);
        socket.connected = (JSON.parse(frame.slice(2)) as [string, LiteSocket["connected"]])[1];
        resolve(socket);
        return;
      }
      for (const l of listeners) l(frame);
    };
    ws.onerror = () => fail(new LiteConnectError("lite websocket failed", undefined));
    ws.onclose = () => {
      if (!ready) return fail(new LiteConnectError("lite websocket closed before connected", undefined));
      for (const [id, pending] of acks) {
        acks.delete(id);
        clearTimeout(pending.timer);
        pending.reject(new LiteConnectError("disconnected before the answer", "DISCONNECTED"));
      }
      for (const l of closeListeners) l();
    };
    const socket: LiteSocket = {
      ws,
      connectedBytes: 0,
      connected: { userId: "", rooms: [] },
      onFrame: (l) => listeners.push(l),
      onClose: (l) => closeListeners.push(l),
      emit(event, payload, ackTimeoutMs = 10_000) {
        return new Promise((resolveAck, rejectAck) => {
          if (ws.readyState !== WebSocket.OPEN) return rejectAck(new LiteConnectError("not connected", "DISCONNECTED"));
          const id = nextAck++;
          const timer = setTimeout(() => {
            acks.delete(id);
            rejectAck(new LiteConnectError(`no answer to ${event} within ${ackTimeoutMs} ms`, "TIMEOUT"));
          }, ackTimeoutMs);
          acks.set(id, { resolve: resolveAck, reject: rejectAck, timer });
          ws.send(`42${id}${JSON.stringify([event, payload])}`);
        });
      },
      close: () => ws.close(),
    };
  });
}
