/**
 * The host's settings. The three secrets are the ones the chat service is configured with
 * (AUTH_JWT_SECRET, INTERNAL_API_SECRET, WEBHOOK_SECRET there).
 */
export type HostConfig = {
  /** Where the host listens (0: any free port). */
  port: number;
  /** The chat service's REST and internal API: private, reached only by the host. */
  chatApiUrl: string;
  /** The chat service's Socket.IO endpoint as browsers reach it. */
  chatSocketUrl: string;
  jwtSecret: string;
  internalSecret: string;
  webhookSecret: string;
};

export function loadHostConfig(env: Record<string, string | undefined> = process.env): HostConfig {
  const required = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set (see examples/host/README.md)`);
    return value;
  };
  return {
    port: Number(env.PORT ?? 8080),
    chatApiUrl: env.CHAT_API_URL ?? "http://127.0.0.1:3000",
    chatSocketUrl: env.CHAT_SOCKET_URL ?? "http://localhost:3001",
    jwtSecret: required("CHAT_JWT_SECRET"),
    internalSecret: required("CHAT_INTERNAL_SECRET"),
    webhookSecret: required("CHAT_WEBHOOK_SECRET"),
  };
}
