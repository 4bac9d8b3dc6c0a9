/**
 * A user of the reconnect storm: one light socket (lite-client.ts) that behaves on (re)connect as
 * the client SDK does (src/client): retries a failed connect with backoff and jitter, then syncs
 * every conversation from the last `seq` it holds (`messages:sync` pages until `hasMore` is false)
 * and asks for its presence (`presence:get`), a few reads at a time, pausing for `retryAfter` when
 * rate-limited and retrying other passing failures with backoff. Every error is counted by code.
 */
import { backoff } from "../../src/client/listeners";
import { ReadQueue } from "../../src/client/queue";
import { ChatError, RETRYABLE } from "../../src/client/errors";
import { connectLite, LiteConnectError, type LiteSocket } from "./lite-client";

/** Error counts of a run, keyed `<where>:<code>` (handshake, transport, read, ...). */
export class ErrorCounts {
  readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  /** Everything except what the contract allows a client to retry: UNAVAILABLE and RATE_LIMITED. */
  unexpected(): number {
    let n = 0;
    for (const [key, count] of this.counts) if (!/:(UNAVAILABLE|RATE_LIMITED)$/.test(key)) n += count;
    return n;
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort());
  }
}

/** socket.io-client's Manager: reconnectionDelay 1000, randomizationFactor 0.5, then capped at reconnectionDelayMax 5000. */
export const transportBackoff = (attempt: number) => Math.min(5000, 1000 * 2 ** attempt * (0.5 + Math.random()));

export class StormUser {
  socket: LiteSocket | undefined;
  /** Every message up to this seq is held, per conversation. */
  readonly synced = new Map<string, number>();
  /** When the last connect's sync and presence reads were all done (performance.now()). */
  syncedAt = 0;
  connectedAt = 0;
  /** When the last successful connect attempt began. */
  attemptAt = 0;
  private generation = 0;
  /** The connection's reads, a few at a time, as the SDK keeps one queue per client. */
  private reads = new ReadQueue();
  private url = "";
  private stopped = false;

  constructor(
    readonly userId: string,
    private readonly token: string,
    private readonly errors: ErrorCounts,
    /** Presence events received, by name: a storm must not set off floods of them. */
    private readonly events: ErrorCounts,
  ) {}

  /** Whether every conversation of the user is synced up to at least its seq in `targets`. */
  holdsAll(targets: Map<string, number>): boolean {
    if (!this.socket || this.syncedAt === 0) return false;
    for (const id of this.socket.connected.rooms) if ((this.synced.get(id) ?? 0) < (targets.get(id) ?? 0)) return false;
    return true;
  }

  /** Connects to `url` after `delayMs` (and again, to the same url, whenever the connection drops). */
  start(url: string, delayMs: number): void {
    this.url = url;
    this.connectedAt = 0;
    this.syncedAt = 0;
    const generation = ++this.generation;
    setTimeout(() => void this.connect(generation, 0), delayMs);
  }

  /** Points later reconnects to `url` (a load balancer taking a dead instance out). */
  moveTo(url: string): void {
    this.url = url;
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.socket?.close();
  }

  private async connect(generation: number, attempt: number): Promise<void> {
    if (generation !== this.generation || this.stopped) return;
    let socket: LiteSocket;
    this.attemptAt = performance.now();
    try {
      socket = await connectLite(this.url, this.token, 20_000);
    } catch (error) {
      const code = error instanceof LiteConnectError && error.code !== "TIMEOUT" ? error.code : undefined;
      // A refusal by the handshake: the SDK retries with its own backoff (250 ms base); a
      // transport failure: socket.io-client's manager retries (1 s base, at most 5 s).
      this.errors.add(code ? `handshake:${code}` : `transport:${error instanceof LiteConnectError && error.code === "TIMEOUT" ? "timeout" : "failed"}`);
      setTimeout(() => void this.connect(generation, attempt + 1), code ? backoff(attempt, 250) : transportBackoff(attempt));
      return;
    }
    if (generation !== this.generation || this.stopped) return socket.close();
    this.socket = socket;
    this.reads = new ReadQueue();
    this.connectedAt = performance.now();
    socket.onFrame((frame) => this.onFrame(frame));
    socket.onClose(() => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = undefined;
      this.connectedAt = 0;
      this.syncedAt = 0;
      const next = ++this.generation;
      setTimeout(() => void this.connect(next, 0), transportBackoff(0));
    });
    await this.syncAll(socket, socket.connected.rooms);
    if (this.socket === socket) this.syncedAt = performance.now();
  }

  /** Live messages advance the sync point while they arrive in order; a gap triggers a sync, as in the SDK. */
  private onFrame(frame: string): void {
    if (frame.startsWith('42["user:online"')) return this.events.add("user:online");
    if (frame.startsWith('42["user:offline"')) return this.events.add("user:offline");
    if (!frame.startsWith('42["message:new"')) return;
    const m = (JSON.parse(frame.slice(2)) as [string, { conversationId: string; seq: number }])[1];
    const held = this.synced.get(m.conversationId) ?? 0;
    if (m.seq === held + 1) this.synced.set(m.conversationId, m.seq);
    else if (m.seq > held + 1 && this.socket) void this.syncAll(this.socket, [m.conversationId]);
  }

  private async syncAll(socket: LiteSocket, conversationIds: string[]): Promise<void> {
    const reads = this.reads;
    const read = (event: string, payload: unknown) =>
      reads.run(async () => {
        const ack = await socket.emit(event, payload).catch((error: LiteConnectError) => ({ ok: false, error: { code: error.code ?? "INTERNAL", message: error.message } }));
        if (ack.ok) return ack.data;
        this.errors.add(`${event}:${ack.error.code}`);
        throw new ChatError(ack.error.code, ack.error.message, ack.error.details);
      });
    await Promise.all(
      conversationIds.flatMap((conversationId) => [
        this.retrying(socket, () => this.syncOne(read, conversationId)),
        this.retrying(socket, () => read("presence:get", { conversationId })),
      ]),
    );
  }

  private async syncOne(read: (event: string, payload: unknown) => Promise<any>, conversationId: string): Promise<void> {
    for (;;) {
      const page = (await read("messages:sync", { conversationId, afterSeq: this.synced.get(conversationId) ?? 0 })) as { messages: { seq: number }[]; hasMore: boolean };
      const last = page.messages[page.messages.length - 1];
      if (last) this.synced.set(conversationId, Math.max(this.synced.get(conversationId) ?? 0, last.seq));
      if (!page.hasMore || page.messages.length === 0) return;
    }
  }

  /** A read that failed in passing is tried again after a backoff while the socket lasts, as the SDK's sync does. */
  private async retrying(socket: LiteSocket, work: () => Promise<unknown>): Promise<void> {
    for (let failures = 0; ; failures++) {
      try {
        await work();
        return;
      } catch (error) {
        const code = error instanceof ChatError ? error.code : "INTERNAL";
        if (!RETRYABLE.has(code) || code === "DISCONNECTED" || this.socket !== socket) return;
        await Bun.sleep(backoff(failures));
        if (this.socket !== socket) return;
      }
    }
  }
}
