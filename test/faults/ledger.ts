/**
 * What a client knows about its sends during a fault: which were acknowledged (with the stored
 * message), which are still unanswered and must be retried. `verify` then reads the conversation
 * back and checks the promises: every acked message stored exactly once, with the seq it was
 * acked with, seqs gapless, and retries never duplicating.
 */
import { expect } from "bun:test";
import type { Socket } from "socket.io-client";
import { type Instance, restAs } from "../helpers/instances";

type Stored = { id: string; seq: number; clientMessageId: string | null; content: string };
export type Outcome = "acked" | "unavailable" | "unanswered";

export class Ledger {
  readonly acked = new Map<string, Stored>();
  readonly sent = new Set<string>();

  constructor(readonly conversationId: string) {}

  /** Notes a stored message a send or a retry answered with; the same id always maps to one message. */
  private note(clientMessageId: string, message: Stored) {
    const before = this.acked.get(clientMessageId);
    if (before) expect({ clientMessageId, id: message.id, seq: message.seq }).toEqual({ clientMessageId, id: before.id, seq: before.seq });
    this.acked.set(clientMessageId, message);
  }

  /** A REST send; anything but 201/200 must be 503 (a 400 would make a client drop the message). */
  async viaRest(rest: Awaited<ReturnType<typeof restAs>>, clientMessageId: string): Promise<Outcome> {
    this.sent.add(clientMessageId);
    let res;
    try {
      res = await rest.post(`/api/conversations/${this.conversationId}/messages`, { content: `m ${clientMessageId}`, clientMessageId });
    } catch {
      return "unanswered"; // the connection dropped: the process died
    }
    if (res.status === 201 || res.status === 200) {
      this.note(clientMessageId, res.body);
      return "acked";
    }
    expect({ clientMessageId, status: res.status, code: res.body?.error?.code }).toEqual({ clientMessageId, status: 503, code: "UNAVAILABLE" });
    return "unavailable";
  }

  /** A socket send with an ack; a failure must be UNAVAILABLE, a missing ack means the process died. */
  async viaSocket(socket: Socket, clientMessageId: string, timeoutMs = 5000): Promise<Outcome> {
    this.sent.add(clientMessageId);
    let res;
    try {
      res = await socket.timeout(timeoutMs).emitWithAck("message:send", { conversationId: this.conversationId, content: `m ${clientMessageId}`, clientMessageId });
    } catch {
      return "unanswered";
    }
    if (res.ok) {
      this.note(clientMessageId, res.data);
      return "acked";
    }
    expect({ clientMessageId, code: res.error.code }).toEqual({ clientMessageId, code: "UNAVAILABLE" });
    return "unavailable";
  }

  /** Sends not acknowledged yet. */
  pending(): string[] {
    return [...this.sent].filter((id) => !this.acked.has(id));
  }

  /** Retries every pending send over REST until each is acknowledged, and a few acked ones too. */
  async retryAll(rest: Awaited<ReturnType<typeof restAs>>): Promise<void> {
    const again = [...this.pending(), ...[...this.acked.keys()].slice(0, 5)];
    for (const id of again) {
      let outcome: Outcome = "unanswered";
      for (let attempt = 0; attempt < 50 && outcome !== "acked"; attempt++) {
        outcome = await this.viaRest(rest, id);
        if (outcome !== "acked") await Bun.sleep(200);
      }
      expect({ id, outcome }).toEqual({ id, outcome: "acked" });
    }
  }

  /** Reads every message of the conversation and checks them against what was acked. */
  async verify(instance: Instance, userId: string): Promise<Stored[]> {
    const rest = await restAs(instance, userId);
    const stored: Stored[] = [];
    // Newest page first, then older ones.
    let before: string | undefined;
    for (;;) {
      const page = await rest.get(`/api/conversations/${this.conversationId}/messages?limit=100${before ? `&before=${before}` : ""}`);
      expect(page.status).toBe(200);
      stored.unshift(...page.body.data);
      if (!page.body.hasMore || page.body.data.length === 0) break;
      before = page.body.data[0].id;
    }
    expect(stored.map((m) => m.seq)).toEqual(stored.map((_, i) => i + 1));
    const byClientId = new Map<string, Stored[]>();
    for (const m of stored) if (m.clientMessageId) byClientId.set(m.clientMessageId, [...(byClientId.get(m.clientMessageId) ?? []), m]);
    const duplicated = [...byClientId].filter(([, ms]) => ms.length > 1).map(([id]) => id);
    expect(duplicated).toEqual([]);
    for (const [clientMessageId, message] of this.acked) {
      expect({ clientMessageId, stored: byClientId.get(clientMessageId)?.[0]?.id }).toEqual({ clientMessageId, stored: message.id });
    }
    return stored;
  }
}
