import { Value } from "@sinclair/typebox/value";
import type { Config } from "../config";
import type { MetricsSink } from "../core/context";
import { AppError } from "../core/errors";
import { dropPrototypeKeys } from "../core/json-size";
import type { Logger } from "../core/log";
import { Metadata } from "../core/schemas";
import { newEventId } from "../webhooks/outbox";
import { deliveryHeaders, signingKey } from "../webhooks/signing";
import { ArrivalOrder } from "./arrival-order";

/** Types of the hook's requests: signed as webhooks are, but only ever sent to MODERATION_HOOK_URL. */
export const MODERATION_HOOK_TYPES = ["message.before_send", "message.before_update"] as const;
export type ModerationHookType = (typeof MODERATION_HOOK_TYPES)[number];

/** What the hook is shown: the message as it would be stored (`messageId` for an edit). */
export type ModerationSubject = {
  messageId?: string;
  conversationId: string;
  senderId: string;
  content: string;
  attachments: unknown[];
  metadata: Record<string, unknown>;
  parentId: string | null;
  mentions: string[];
};

/** The values the hook decides: those sent, or those of its `modify` answer. */
export type Moderated = { content: string; metadata: Record<string, unknown> };

/** The outcomes `chat_moderation_hook_outcomes_total` counts. */
export const HOOK_OUTCOMES = ["allow", "reject", "modify", "timeout", "error"] as const;
type Outcome = (typeof HOOK_OUTCOMES)[number];

type Verdict = { action: "allow" } | { action: "reject"; reason: string | null } | { action: "modify"; content?: string; metadata?: Record<string, unknown> };
type Answer = { verdict: Verdict } | { failed: "timeout" | "error"; why: string } | { unusable: string };

/** A reason longer than this is cut: it goes back to the sender in `details.reason`. */
const REASON_MAX_CHARS = 1000;

const rejected = (reason: string | null) => new AppError("FORBIDDEN", "The message was rejected by moderation", { reason });

/**
 * The pre-send moderation hook: before a send or an edit is stored, the host is asked (a signed
 * POST, as webhooks are) whether to allow it, reject it or change it. Its answer is awaited with
 * no database connection held, and many are awaited at once; `order` keeps one sender's sends
 * into one conversation in the order they arrived.
 */
export class ModerationHook {
  readonly order = new ArrivalOrder();
  private readonly keys: Buffer[];
  private failing = false;

  constructor(
    private readonly url: string,
    secrets: string[],
    private readonly timeoutMs: number,
    private readonly failure: "open" | "closed",
    private readonly metrics: MetricsSink,
    private readonly log: Logger,
  ) {
    this.keys = secrets.map(signingKey);
  }

  /**
   * The content and metadata to store. Throws FORBIDDEN (`details.reason`) when the hook rejects,
   * answers something that is none of its three answers, or changes the message into one `check`
   * refuses (the send's own validation); UNAVAILABLE when it fails (no answer in time, a non-2xx,
   * unreachable) and MODERATION_HOOK_FAILURE is `closed`.
   */
  async moderate(type: ModerationHookType, subject: ModerationSubject, check: (values: Moderated) => void): Promise<Moderated> {
    const sent = { content: subject.content, metadata: subject.metadata };
    const answer = await this.ask(type, subject);
    if ("failed" in answer) {
      this.count(answer.failed);
      if (!this.failing) this.log.warn("moderation hook failed", { url: this.url, error: answer.why, failure: this.failure });
      this.failing = true;
      if (this.failure === "closed") throw new AppError("UNAVAILABLE", "Moderation is unavailable; retry shortly");
      return sent;
    }
    if (this.failing) this.log.info("moderation hook answers again", { url: this.url });
    this.failing = false;
    if ("unusable" in answer) {
      this.count("error");
      this.log.warn("moderation hook answer unusable; the message is rejected", { url: this.url, type, error: answer.unusable });
      throw rejected(null);
    }
    const { verdict } = answer;
    if (verdict.action === "allow") {
      this.count("allow");
      return sent;
    }
    if (verdict.action === "reject") {
      this.count("reject");
      throw rejected(verdict.reason);
    }
    const modified = { content: verdict.content ?? sent.content, metadata: verdict.metadata ?? sent.metadata };
    try {
      if (!Value.Check(Metadata, modified.metadata)) throw new AppError("VALIDATION_ERROR", "metadata does not match the Metadata schema");
      check(modified);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      this.count("reject");
      this.log.warn("moderation hook changed the message into an invalid one; the message is rejected", { url: this.url, type, error: error.message });
      throw rejected(null);
    }
    this.count("modify");
    return modified;
  }

  private count(outcome: Outcome): void {
    this.metrics.count("moderation_hook_total", { outcome });
  }

  /** One signed POST, within the timeout (the answer's body included). */
  private async ask(type: ModerationHookType, data: ModerationSubject): Promise<Answer> {
    const id = newEventId();
    const body = JSON.stringify({ id, type, timestamp: new Date().toISOString(), data });
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const started = performance.now();
    try {
      const res = await fetch(this.url, {
        method: "POST",
        headers: { ...deliveryHeaders(this.keys, { id, type }, body), "user-agent": "chat-service-moderation" },
        body,
        // A redirect is a misconfigured URL: following it would drop the body.
        redirect: "manual",
        signal: timeout,
      });
      const text = await res.text();
      if (res.status < 200 || res.status > 299) return { failed: "error", why: `HTTP ${res.status}` };
      return verdictOf(text);
    } catch (error) {
      if (timeout.aborted) return { failed: "timeout", why: `no answer within ${this.timeoutMs} ms` };
      return { failed: "error", why: error instanceof Error ? error.message : String(error) };
    } finally {
      this.metrics.observe("moderation_hook_ms", performance.now() - started);
    }
  }
}

/** `{ action: "allow" }`, `{ action: "reject", reason? }` or `{ action: "modify", content?, metadata? }`; anything else is unusable. */
function verdictOf(text: string): Answer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { unusable: "not JSON" };
  }
  if (!isObject(parsed)) return { unusable: "not a JSON object" };
  // As in request bodies: keys named like Object.prototype's members are never stored nor sent on.
  dropPrototypeKeys(parsed);
  const { action, reason, content, metadata } = parsed;
  switch (action) {
    case "allow":
      return { verdict: { action } };
    case "reject":
      if (reason != null && typeof reason !== "string") return { unusable: "reason is not a string" };
      return { verdict: { action, reason: reason == null ? null : [...reason].slice(0, REASON_MAX_CHARS).join("") } };
    case "modify":
      if (content !== undefined && typeof content !== "string") return { unusable: "content is not a string" };
      if (metadata !== undefined && !isObject(metadata)) return { unusable: "metadata is not an object" };
      return { verdict: { action, ...(content !== undefined && { content }), ...(metadata !== undefined && { metadata }) } };
    default:
      return { unusable: `unknown action ${JSON.stringify(action)?.slice(0, 40)}` };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/** The hook of an instance; undefined without MODERATION_HOOK_URL. */
export function createModerationHook(config: Config, metrics: MetricsSink, log: Logger): ModerationHook | undefined {
  if (!config.MODERATION_HOOK_URL || !config.WEBHOOK_SECRET) return undefined;
  return new ModerationHook(config.MODERATION_HOOK_URL, config.WEBHOOK_SECRET, config.MODERATION_HOOK_TIMEOUT_MS, config.MODERATION_HOOK_FAILURE, metrics, log);
}
