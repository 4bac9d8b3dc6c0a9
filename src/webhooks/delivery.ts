import type { WebhookPayload } from "./outbox";
import { deliveryHeaders } from "./signing";

export type AttemptOutcome =
  | { ok: true; status: number }
  | { ok: false; status: number | null; error: string; interrupted: boolean };

const ERROR_SNIPPET_CHARS = 200;

/** The body as the host sees it: keys in the documented order (jsonb does not keep key order). */
export const deliveryBody = (payload: WebhookPayload) =>
  JSON.stringify({ id: payload.id, type: payload.type, timestamp: payload.timestamp, data: payload.data });

/**
 * One signed POST of an event. Only a 2xx within `timeoutMs` is a success; redirects are not
 * followed (a 3xx is a misconfigured URL, and following it would drop the body). `interrupted`
 * says the instance is shutting down: the attempt does not count and the event goes back.
 */
export async function postEvent(url: string, keys: Buffer[], payload: WebhookPayload, timeoutMs: number, shutdown: AbortSignal): Promise<AttemptOutcome> {
  const body = deliveryBody(payload);
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: deliveryHeaders(keys, payload, body),
      body,
      redirect: "manual",
      signal: AbortSignal.any([timeout, shutdown]),
    });
    // Read the answer within the same deadline so the connection is freed (and a slow body is a timeout).
    const text = await res.text();
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    const snippet = text.trim().slice(0, ERROR_SNIPPET_CHARS);
    return { ok: false, status: res.status, error: `HTTP ${res.status}${snippet ? `: ${snippet}` : ""}`, interrupted: false };
  } catch (error) {
    if (shutdown.aborted) return { ok: false, status: null, error: "interrupted by shutdown", interrupted: true };
    if (timeout.aborted) return { ok: false, status: null, error: `no answer within ${timeoutMs} ms`, interrupted: false };
    return { ok: false, status: null, error: describeNetworkError(error), interrupted: false };
  }
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as Error & { code?: string }).code;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
