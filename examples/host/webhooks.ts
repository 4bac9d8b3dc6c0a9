/**
 * The chat service's webhooks: verified with the `standardwebhooks` package, deduplicated on the
 * event id (delivery is at least once), then handled. `notification.message` is where a real host
 * sends push notifications (APNs, FCM, e-mail); this one logs them.
 */
import { Webhook } from "standardwebhooks";
import type { Log } from "./log";
import { type NotificationMessage, previewOf, pushesFor } from "./push";

type ChatEvent = { id: string; type: string; timestamp: string; data: any };

export function webhookReceiver(secret: string, log: Log) {
  const webhook = secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
  // A database table with a unique key in a real host; the last few thousand ids are enough here.
  const seen = new Set<string>();

  const handle = (event: ChatEvent) => {
    if (event.type === "notification.message") {
      const data = event.data as NotificationMessage;
      // A real host looks up the recipients' registered devices and names, then POSTs each push to
      // APNs or FCM (see push.ts); this one has no devices, so it logs what it would send.
      const pushes = pushesFor(data, (userId) => [{ platform: "ios", token: `device-of-${userId}` }], (userId) => userId);
      log("push notification", {
        conversationId: data.message.conversationId,
        from: data.message.senderId,
        to: data.recipients.map((r) => r.userId),
        pushes: pushes.length,
        preview: pushes[0] && previewOf(data.message, data.recipients[0]!.mentioned, data.message.senderId).body,
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
