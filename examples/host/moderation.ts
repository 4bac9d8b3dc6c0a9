/**
 * The chat service's pre-send hook (MODERATION_HOOK_URL): every send and edit is asked about here
 * before it is stored. Verified like the webhooks (same secret), answered at once: the answer sits
 * in every send's latency, and a slow or failing hook is MODERATION_HOOK_FAILURE's to handle.
 * This one masks a few words and rejects links to one domain; a real host calls its own filters
 * or a moderation API here, within MODERATION_HOOK_TIMEOUT_MS.
 */
import { Webhook } from "standardwebhooks";

type HookRequest = {
  id: string;
  type: "message.before_send" | "message.before_update";
  data: { conversationId: string; senderId: string; content: string; metadata: Record<string, unknown> };
};

const MASKED = /\b(darn|heck)\b/gi;
const BLOCKED_LINK = /https?:\/\/(www\.)?spam\.example\b/i;

export function moderationHook(secret: string) {
  const webhook = secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
  return async (req: Request): Promise<Response> => {
    const body = await req.text();
    let request: HookRequest;
    try {
      request = webhook.verify(body, Object.fromEntries(req.headers)) as HookRequest;
    } catch {
      return Response.json({ error: "invalid signature" }, { status: 401 });
    }
    const { content } = request.data;
    if (BLOCKED_LINK.test(content)) return Response.json({ action: "reject", reason: "links to spam.example are not allowed" });
    const masked = content.replace(MASKED, (word) => "*".repeat(word.length));
    if (masked !== content) return Response.json({ action: "modify", content: masked });
    return Response.json({ action: "allow" });
  };
}
