/**
 * The chat service's webhooks: verified with the `standardwebhooks` package, deduplicated on the
 * event id (delivery is at least once), then handled. `notification.message` is where a real host
 * sends push notifications (APNs, FCM, e-mail); this one logs them.
 */
import { Webhook } from "standardwebhooks";
import type { Log } from "./log";

type ChatEvent = { id: string; type: string; timestamp: string; data: any };

export function webhookReceiver(secret: string, log: Log) {
  const webhook = secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
  // A database table with a unique key in a real host; the last few thousand ids are enough here.
  const seen = new Set<string>();

  const handle = (event: ChatEvent) => {
    if (event.type === "notification.message") {
      const { message, recipients } = event.data;
      log("push notification", {
        conversationId: message.conversationId,
        from: message.senderId,
        to: recipients.map((r: { userId: string }) => r.userId),
        preview: String(message.content).slice(0, 80),
      });
      return;
    }
    log("chat event", { type: event.type, id: event.id });
  };

  return async (req: Request): Promise<Response> => {
    const body = await req.text();
    let event: ChatEvent;
    try {
      event = webhook.verify(body, Object.fromEntries(req.headers)) as ChatEvent;
    } catch {
      return Response.json({ error: "invalid signature" }, { status: 401 });
    }
    if (!seen.has(event.id)) {
      seen.add(event.id);
      if (seen.size > 5000) seen.delete(seen.values().next().value!);
      handle(event);
    }
    return new Response(null, { status: 204 });
  };
}
