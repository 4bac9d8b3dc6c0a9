/**
 * A real webhook receiver for tests: a Bun HTTP server that records every request, checks its
 * signature with the `standardwebhooks` package (as a host would), and answers as the test says.
 * Also the service that sends to it, and the outbox rows tests follow.
 */
import { afterAll } from "bun:test";
import type { Server } from "bun";
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { webhookEvents } from "../../src/core/db/schema";
import { type ApiClient, serviceForTests, type TestService } from "../helpers/service";
import { eventually } from "../helpers/sockets";

/** A `whsec_` secret (base64 key) and a raw one (its UTF-8 bytes are the key): both kinds hosts use. */
export const WHSEC_SECRET = `whsec_${Buffer.from("webhook-test-key-0123456789abcdef!").toString("base64")}`;
export const RAW_SECRET = "raw-webhook-secret-é-0123456789abcdefghij";

export type Delivery = {
  headers: Record<string, string>;
  body: string;
  payload: { id: string; type: string; timestamp: string; data: any };
  /** How many requests for this event id came before this one. */
  attempt: number;
  /** null when `standardwebhooks` accepted the signature, else its complaint. */
  verifyError: string | null;
  receivedAt: number;
  /** What the receiver answered (undefined until it did, or when the sender gave up first). */
  answered?: number;
  /** The sender hung up before the answer (its timeout). */
  abandoned?: boolean;
};

export type Behaviour = (delivery: Delivery) => Response | Promise<Response>;
export const accept: Behaviour = () => new Response("ok");

export type Receiver = {
  url: string;
  port: number;
  deliveries: Delivery[];
  behaviour: Behaviour;
  /** Deliveries answered with a 2xx. */
  accepted(): Delivery[];
  acceptedOf(type: string): Delivery[];
  waitForAccepted(count: number, timeoutMs?: number): Promise<Delivery[]>;
  /** Stops listening (the port stays reserved for `resume`). */
  pause(): void;
  resume(): void;
  stop(): void;
};

function verifierFor(secret: string): Webhook {
  return secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
}

export function startReceiver(secret: string, options: { port?: number; listening?: boolean } = {}): Receiver {
  const verifier = verifierFor(secret);
  const seen = new Map<string, number>();
  const receiver: Receiver = {
    url: "",
    port: 0,
    deliveries: [],
    behaviour: accept,
    accepted: () => receiver.deliveries.filter((d) => d.answered !== undefined && d.answered >= 200 && d.answered < 300),
    acceptedOf: (type) => receiver.accepted().filter((d) => d.payload.type === type),
    async waitForAccepted(count, timeoutMs = 15000) {
      await eventually(() => receiver.accepted().length >= count, timeoutMs, `${count} accepted deliveries (have ${receiver.accepted().length})`);
      return receiver.accepted();
    },
    pause() {
      server?.stop(true);
      server = undefined;
    },
    resume() {
      server ??= listen(receiver.port);
    },
    stop: () => receiver.pause(),
  };

  const handle = async (request: Request): Promise<Response> => {
    const body = await request.text();
    const headers = Object.fromEntries(request.headers.entries());
    let verifyError: string | null = null;
    try {
      verifier.verify(body, headers);
    } catch (error) {
      verifyError = (error as Error).message;
    }
    const payload = JSON.parse(body);
    const attempt = seen.get(payload.id) ?? 0;
    seen.set(payload.id, attempt + 1);
    const delivery: Delivery = { headers, body, payload, attempt, verifyError, receivedAt: Date.now() };
    receiver.deliveries.push(delivery);
    const response = await receiver.behaviour(delivery);
    if (request.signal.aborted) delivery.abandoned = true;
    else delivery.answered = response.status;
    return response;
  };

  const listen = (port: number) => Bun.serve({ hostname: "127.0.0.1", port, idleTimeout: 120, fetch: handle });
  let server: Server<undefined> | undefined = listen(options.port ?? 0);
  receiver.port = server.port!;
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
  if (options.listening === false) receiver.pause();
  return receiver;
}

/** Resolves after `ms`; for receivers that answer late. */
export const answerAfter = (ms: number, status = 200) => Bun.sleep(ms).then(() => new Response(status === 200 ? "ok" : "no", { status }));

/**
 * A receiver and a service that sends it webhooks signed with `secret`, drained every 50 ms, for
 * the tests of a file or describe block. The receiver listens from now on; after the tests the
 * service stops first, so that it is not left sending to a closed port.
 */
export function serviceWithReceiver(secret: string, env: Record<string, string> = {}): { svc: TestService; receiver: Receiver } {
  const receiver = startReceiver(secret);
  const svc = serviceForTests({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: secret, WEBHOOK_DRAIN_INTERVAL_MS: "50", ...env });
  afterAll(() => receiver.stop()); // runs after serviceForTests' own afterAll
  return { svc, receiver };
}

/** Ann's direct conversation with Bob, once its conversation.created reached the receiver. */
export async function deliveredConversation(svc: TestService, receiver: Receiver): Promise<{ ann: ApiClient; conversationId: string }> {
  await svc.syncUsers("ann", "bob");
  const ann = await svc.as("ann");
  const conversationId = (await ann.post("/api/conversations", { type: "direct", participantIds: ["bob"] })).body.id;
  await receiver.waitForAccepted(1);
  return { ann, conversationId };
}

/** The id of the message.created event written for a message, from the outbox table. */
export async function messageCreatedEventId(svc: TestService, messageId: string): Promise<string | undefined> {
  const rows = await svc.app.ctx.db.select().from(webhookEvents).where(eq(webhookEvents.type, "message.created"));
  return rows.find((r) => (r.payload.data as { id: string }).id === messageId)?.id;
}
