/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the key is the base64 remainder of
 * a `whsec_` secret, else the secret's UTF-8 bytes, so hosts can use either kind of secret.
 */
export function signingKey(secret: string): Buffer {
  return secret.startsWith("whsec_") ? Buffer.from(secret.slice("whsec_".length), "base64") : Buffer.from(secret, "utf8");
}

/**
 * `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one per key, separated by spaces as
 * Standard Webhooks allows: during a rotation the host verifies with the old secret or the new one.
 */
export function signDelivery(keys: Buffer[], id: string, timestampSeconds: number, body: string): string {
  const signed = `${id}.${timestampSeconds}.${body}`;
  // Bun's own HMAC: the same bytes as node:crypto's createHmac in under half the time, once per attempt.
  return keys.map((key) => `v1,${new Bun.CryptoHasher("sha256", key).update(signed).digest("base64")}`).join(" ");
}

/**
 * Headers of one attempt. Every attempt gets its own timestamp (receivers reject old ones), so
 * the signature is computed afresh each time; the id stays that of the event. The X- names are
 * ARCHITECTURE.md's, the lowercase ones the Standard Webhooks names libraries verify.
 */
export function deliveryHeaders(keys: Buffer[], event: { id: string; type: string }, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  const signature = signDelivery(keys, event.id, timestamp, body);
  return {
    "content-type": "application/json",
    "user-agent": "chat-service-webhooks",
    "x-webhook-id": event.id,
    "x-webhook-event": event.type,
    "x-webhook-timestamp": String(timestamp),
    "x-webhook-signature": signature,
    "webhook-id": event.id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signature,
  };
}
