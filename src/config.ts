import { Type as T, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/**
 * Every environment variable the service reads, with its default and a line of help.
 * `--help` prints this table; `loadConfig` is the only place that reads `process.env`.
 */
const int = (def: number, min: number, max: number) => T.Integer({ default: def, minimum: min, maximum: max });
const optionalString = () => T.Optional(T.String({ minLength: 1 }));

export const ENV = {
  NODE_ENV: { schema: T.String({ default: "development" }), help: "`production` enforces strong secrets; anything else is development mode" },
  HOST: { schema: T.String({ default: "0.0.0.0" }), help: "interface to listen on" },
  PORT: { schema: int(3000, 0, 65535), help: "REST, internal API and Socket.IO" },
  WS_PORT: { schema: int(3001, 0, 65535), help: "Socket.IO only (same server, second port); set equal to PORT to disable" },
  DATABASE_URL: { schema: optionalString(), help: "postgres:// URL; unset: embedded PGlite in DATA_DIR" },
  DATABASE_POOL_SIZE: { schema: int(10, 1, 200), help: "postgres.js connections per instance" },
  DATABASE_STATEMENT_TIMEOUT_MS: { schema: int(30000, 0, 3600000), help: "Postgres statement_timeout of the pool's connections (a stuck query answers 503); 0: none" },
  DATABASE_LOCK_TIMEOUT_MS: { schema: int(10000, 0, 3600000), help: "Postgres lock_timeout of the pool's connections (a request waiting on a stuck lock answers 503); 0: none" },
  DATABASE_POOLER: {
    schema: T.Union([T.Literal("none"), T.Literal("transaction")], { default: "none" }),
    help: "`transaction` when DATABASE_URL is a transaction-mode pooler (PgBouncer pool_mode=transaction): no named prepared statements, and the two timeouts above are not sent at connect (set them on the database role); `none`: a direct connection or a session-mode pooler",
  },
  DATA_DIR: { schema: T.String({ default: "./data" }), help: "embedded PGlite data directory (`memory://` keeps nothing)" },
  REDIS_URL: { schema: optionalString(), help: "redis:// URL; unset: in-process store, single instance only" },
  REDIS_CLUSTER_NODES: {
    schema: optionalString(),
    help: "a Redis Cluster (Redis 7 or later) instead of REDIS_URL: comma-separated host:port of some of its nodes, e.g. 10.0.0.1:6379,10.0.0.2:6379",
  },
  REDIS_PREFIX: { schema: T.String({ default: "chat:", pattern: "^[A-Za-z0-9:_.-]{1,64}$" }), help: "prefix of every Redis key and channel" },
  AUTH_JWT_SECRET: {
    schema: optionalString(),
    help: "HS256 secret shared with the host application (>= 32 bytes); several, separated by spaces, during a rotation: a token signed with any of them is accepted",
  },
  AUTH_JWT_ISSUER: { schema: optionalString(), help: "required `iss` claim, when set" },
  AUTH_JWT_AUDIENCE: { schema: optionalString(), help: "required `aud` claim, when set" },
  INTERNAL_API_SECRET: { schema: optionalString(), help: "X-Internal-Secret for the internal API (>= 32 bytes)" },
  WEBHOOK_URL: { schema: optionalString(), help: "where events are POSTed; unset: no webhooks are recorded" },
  WEBHOOK_SECRET: {
    schema: optionalString(),
    help: "Standard Webhooks signing secret (`whsec_<base64>` or raw, >= 32 bytes); several, separated by spaces, during a rotation: each delivery carries one signature per secret",
  },
  WEBHOOK_TIMEOUT_MS: { schema: int(5000, 100, 60000), help: "a delivery attempt fails after this long" },
  WEBHOOK_MAX_ATTEMPTS: { schema: int(40, 1, 1000), help: "attempts before an event is dead (40 with the default backoff span about 31 h, at least 25 h with jitter)" },
  WEBHOOK_BACKOFF_BASE_MS: { schema: int(10000, 10, 3600000), help: "wait after the first failed attempt; doubles after each further failure (±20% jitter)" },
  WEBHOOK_BACKOFF_MAX_MS: { schema: int(3600000, 10, 86400000), help: "longest wait between two attempts" },
  WEBHOOK_DRAIN_INTERVAL_MS: { schema: int(250, 10, 60000), help: "how often each instance looks for due events (commit→delivery waits half of it on average)" },
  WEBHOOK_CONCURRENCY: { schema: int(16, 1, 256), help: "deliveries in flight per instance" },
  WEBHOOK_RETENTION_HOURS: { schema: int(168, 1, 100000), help: "delivered events older than this are purged" },
  MODERATION_HOOK_URL: {
    schema: optionalString(),
    help: "pre-send hook: every send and edit is POSTed here first, signed with WEBHOOK_SECRET (which it requires), and stored, changed or refused as it answers; unset: no hook",
  },
  MODERATION_HOOK_TIMEOUT_MS: { schema: int(1500, 50, 10000), help: "the pre-send hook's answer is awaited this long, then MODERATION_HOOK_FAILURE applies" },
  MODERATION_HOOK_FAILURE: {
    schema: T.Union([T.Literal("open"), T.Literal("closed")], { default: "open" }),
    help: "when the hook times out, is unreachable or answers a non-2xx: `open` stores the message as sent, `closed` refuses it (503 UNAVAILABLE)",
  },
  NOTIFY_DELAY_MS: {
    schema: int(0, 0, 86400000),
    help: "how long after a message the recipients of its notification.message webhook are worked out: who read it or came online meanwhile is left out (needs WEBHOOK_URL)",
  },
  CORS_ORIGINS: { schema: T.String({ default: "*" }), help: "comma-separated allowed origins, or *" },
  LOG_LEVEL: { schema: T.Union([T.Literal("debug"), T.Literal("info"), T.Literal("warn"), T.Literal("error"), T.Literal("silent")], { default: "info" }), help: "debug | info | warn | error | silent" },
  MESSAGE_MAX_LENGTH: { schema: int(4000, 1, 65536), help: "characters of message content" },
  MAX_BODY_BYTES: { schema: int(1048576, 1024, 67108864), help: "largest REST body or socket packet" },
  MAX_GROUP_PARTICIPANTS: { schema: int(10000, 2, 1000000), help: "participants of one group conversation" },
  TYPING_TTL_MS: { schema: int(6000, 100, 600000), help: "typing/recording indicators end this long after the last start" },
  PRESENCE_TTL_MS: { schema: int(60000, 1000, 3600000), help: "a socket that has not pinged for this long counts as gone" },
  PRESENCE_MAX_ROOM_SIZE: {
    schema: int(1000, 0, 1000000),
    help: "conversations with more participants get no user:online/user:offline room events (each would reach every member); their clients read GET /api/conversations/:id/presence",
  },
  RATE_LIMIT_MESSAGES: { schema: int(30, 1, 100000), help: "message sends per user per 10 s (socket)" },
  RATE_LIMIT_EVENTS: { schema: int(120, 1, 100000), help: "other socket events per socket per 10 s" },
  MESSAGE_RETENTION_DAYS: {
    schema: T.Optional(T.Integer({ minimum: 1, maximum: 36500 })),
    help: "messages older than this many days are deleted for good (with their reactions, read marks and mentions), in batches; unset: kept forever",
  },
  LIFECYCLE_INTERVAL_MS: {
    schema: int(60000, 100, 86400000),
    help: "how often each instance looks for retention and erase work (it works batch after batch while there is some)",
  },
  LIFECYCLE_BATCH_SIZE: {
    schema: int(1000, 1, 100000),
    help: "messages per retention or erase transaction: keep each one well under the statement timeout",
  },
  SHUTDOWN_TIMEOUT_MS: { schema: int(10000, 0, 600000), help: "graceful shutdown bound" },
} satisfies Record<string, { schema: TSchema; help: string }>;

type EnvSchemas = { [K in keyof typeof ENV]: (typeof ENV)[K]["schema"] };
const EnvSchema = T.Object(Object.fromEntries(Object.entries(ENV).map(([k, v]) => [k, v.schema])) as EnvSchemas);
type Env = Static<typeof EnvSchema>;

export type Config = Omit<Env, "CORS_ORIGINS" | "AUTH_JWT_SECRET" | "WEBHOOK_SECRET"> & {
  production: boolean;
  corsOrigins: string[] | "*";
  /** One or more (a rotation in progress): tokens signed with any of them are accepted. */
  AUTH_JWT_SECRET: string[];
  INTERNAL_API_SECRET: string;
  /** One or more: each webhook delivery is signed with every one of them. */
  WEBHOOK_SECRET: string[] | undefined;
  /** REDIS_CLUSTER_NODES parsed; undefined without a cluster. */
  redisClusterNodes: { host: string; port: number }[] | undefined;
  /** Names of secrets replaced by development defaults, for the start-up warning. */
  devSecrets: string[];
};

export class ConfigError extends Error {}

/** Development defaults: fixed so that the README can show how to mint a token against them. */
export const DEV_SECRETS = {
  AUTH_JWT_SECRET: "dev-only-jwt-secret-change-me-0123456789",
  INTERNAL_API_SECRET: "dev-only-internal-secret-change-me-0123",
  WEBHOOK_SECRET: "dev-only-webhook-secret-change-me-012345",
} as const;

const MIN_SECRET_BYTES = 32;

export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(ENV)) {
    const value = source[key];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const withDefaults = Value.Default(EnvSchema, Value.Convert(EnvSchema, raw));
  const problem = Value.Errors(EnvSchema, withDefaults).First();
  if (problem) {
    const name = problem.path.replace(/^\//, "");
    const given = name in raw ? ` (got ${JSON.stringify(raw[name])})` : "";
    // A union of literals reads "Expected union value" in TypeBox's words: name the choices instead.
    const choices = (problem.schema as { anyOf?: { const?: unknown }[] }).anyOf?.map((s) => s.const);
    const message = choices?.every((c) => typeof c === "string") ? `must be one of ${choices.join(", ")}` : problem.message;
    throw new ConfigError(`${name}: ${message}${given}. ${ENV[name as keyof typeof ENV]?.help ?? ""}`.trim());
  }
  const env = withDefaults as Env;
  const production = env.NODE_ENV === "production";
  const devSecrets: string[] = [];
  /** The secrets a variable holds: one, or several separated by spaces for those that rotate. */
  const secrets = (name: keyof typeof DEV_SECRETS, rotates: boolean): string[] => {
    const value = env[name];
    const given = value === undefined ? [] : rotates ? value.split(/\s+/).filter(Boolean) : [value];
    if (given.length > 0) {
      given.forEach((one, index) => {
        const bytes = secretBytes(name, one);
        if (production && bytes < MIN_SECRET_BYTES) {
          const which = given.length > 1 ? ` (secret ${index + 1} of ${given.length})` : "";
          throw new ConfigError(`${name}${which} is ${bytes} bytes; production needs at least ${MIN_SECRET_BYTES}.`);
        }
      });
      return given;
    }
    if (production) throw new ConfigError(`${name} is not set; production mode needs it (at least ${MIN_SECRET_BYTES} bytes).`);
    devSecrets.push(name);
    return [DEV_SECRETS[name]];
  };
  const jwtSecrets = secrets("AUTH_JWT_SECRET", true);
  const [internalSecret] = secrets("INTERNAL_API_SECRET", false) as [string];
  const webhookSecrets = env.WEBHOOK_URL ? secrets("WEBHOOK_SECRET", true) : env.WEBHOOK_SECRET?.split(/\s+/).filter(Boolean);
  if (env.WEBHOOK_URL && !/^https?:\/\//.test(env.WEBHOOK_URL)) {
    throw new ConfigError(`WEBHOOK_URL must be an http(s) URL (got ${JSON.stringify(env.WEBHOOK_URL)}).`);
  }
  if (env.MODERATION_HOOK_URL) {
    if (!/^https?:\/\//.test(env.MODERATION_HOOK_URL)) {
      throw new ConfigError(`MODERATION_HOOK_URL must be an http(s) URL (got ${JSON.stringify(env.MODERATION_HOOK_URL)}).`);
    }
    // No development default here: the host must be able to check the hook's signature.
    if (!env.WEBHOOK_SECRET) throw new ConfigError("MODERATION_HOOK_URL is set but WEBHOOK_SECRET is not: the hook's requests are signed with it, so the host can tell them from forgeries.");
    if (!env.WEBHOOK_URL) secrets("WEBHOOK_SECRET", true);
  }
  if (env.REDIS_URL && env.REDIS_CLUSTER_NODES) throw new ConfigError("Set REDIS_URL or REDIS_CLUSTER_NODES, not both.");
  const redisClusterNodes = env.REDIS_CLUSTER_NODES === undefined ? undefined : parseNodes(env.REDIS_CLUSTER_NODES);
  const corsOrigins = env.CORS_ORIGINS.trim() === "*" ? "*" : env.CORS_ORIGINS.split(",").map((o) => o.trim()).filter(Boolean);
  const { CORS_ORIGINS: _, AUTH_JWT_SECRET: __, WEBHOOK_SECRET: ___, ...rest } = env;
  return {
    ...rest,
    production,
    corsOrigins,
    AUTH_JWT_SECRET: jwtSecrets,
    INTERNAL_API_SECRET: internalSecret,
    WEBHOOK_SECRET: webhookSecrets,
    redisClusterNodes,
    devSecrets,
  };
}

/** `host:port,host:port` (an IPv6 host in brackets) into ioredis' startup nodes. */
function parseNodes(list: string): { host: string; port: number }[] {
  return list.split(",").map((entry) => {
    const match = entry.trim().match(/^\[?([^\]]+?)\]?:(\d{1,5})$/);
    const port = Number(match?.[2]);
    if (!match || match[1]!.includes("/") || port < 1 || port > 65535) {
      throw new ConfigError(`REDIS_CLUSTER_NODES must be comma-separated host:port, not URLs (got ${JSON.stringify(entry.trim())}).`);
    }
    return { host: match[1]!, port };
  });
}

/** Bytes of key material: a `whsec_` secret is base64 after its prefix. */
function secretBytes(name: string, value: string): number {
  if (name === "WEBHOOK_SECRET" && value.startsWith("whsec_")) {
    return Buffer.from(value.slice("whsec_".length), "base64").length;
  }
  return Buffer.byteLength(value, "utf8");
}

export function describeEnv(): string {
  const width = Math.max(...Object.keys(ENV).map((k) => k.length));
  return Object.entries(ENV)
    .map(([name, { schema, help }]) => {
      const def = (schema as { default?: unknown }).default;
      const shown = def === undefined ? "" : ` [default: ${def}]`;
      return `  ${name.padEnd(width)}  ${help}${shown}`;
    })
    .join("\n");
}
