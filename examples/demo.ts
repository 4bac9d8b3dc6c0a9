#!/usr/bin/env bun
/**
 * `bun run demo`: the chat service (a child process, embedded database in ./data/demo) and the
 * example host application with its web chat, wired together with fresh secrets. Open the printed
 * URL in two browser windows (one private) and sign in with two names.
 *
 * `startDemo` is also what the browser tests run, so the demo cannot rot unnoticed.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Log } from "./host/log";
import { startHost } from "./host/server";

const ROOT = join(import.meta.dir, "..");

export type DemoOptions = {
  hostPort: number;
  chatPort: number;
  chatSocketPort: number;
  /** Environment of the chat service beyond ports and secrets: DATA_DIR or DATABASE_URL, LOG_LEVEL… */
  chatEnv: Record<string, string>;
  /** The host's log lines (default: JSON lines on stdout). */
  log?: Log;
};

export type ChatProcess = {
  /** Everything the service printed, for failure messages. */
  output(): string;
  /** SIGTERM, as an orchestrator stops it; resolves when it has exited. */
  stop(): Promise<void>;
};

/** A secret of 32 random bytes, shared by the host and the chat service for this run only. */
const secret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");

export async function startDemo(options: DemoOptions) {
  const secrets = { jwt: secret(), internal: secret(), webhook: secret() };
  const host = startHost({
    port: options.hostPort,
    chatApiUrl: `http://127.0.0.1:${options.chatPort}`,
    chatSocketUrl: `http://localhost:${options.chatSocketPort}`,
    jwtSecret: secrets.jwt,
    internalSecret: secrets.internal,
    webhookSecret: secrets.webhook,
  }, options.log);
  const chatEnv = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    HOST: "127.0.0.1",
    PORT: String(options.chatPort),
    WS_PORT: String(options.chatSocketPort),
    AUTH_JWT_SECRET: secrets.jwt,
    INTERNAL_API_SECRET: secrets.internal,
    WEBHOOK_URL: new URL("/webhooks/chat", host.url).href,
    WEBHOOK_SECRET: secrets.webhook,
    // Only the host's pages may open sockets (by either name of this machine).
    CORS_ORIGINS: `${host.url.origin},http://127.0.0.1:${host.port}`,
    ...options.chatEnv,
  };

  let chat = await startChatService(chatEnv);
  return {
    url: host.url.href,
    /** Stops the chat service and starts it again on the same ports and data, as a deploy would. */
    async restartChat(): Promise<void> {
      await chat.stop();
      chat = await startChatService(chatEnv);
    },
    chatOutput: () => chat.output(),
    async stop(): Promise<void> {
      await chat.stop();
      await host.stop(true);
    },
  };
}

async function startChatService(env: Record<string, string>): Promise<ChatProcess> {
  const proc = Bun.spawn([process.execPath, "src/main.ts"], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  process.once("exit", () => proc.kill());
  const lines: string[] = [];
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        const text = decoder.decode(chunk);
        lines.push(text);
        if (import.meta.main) process.stdout.write(text);
      }
    })();
  }
  const chat: ChatProcess = {
    output: () => lines.join(""),
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
  const health = `http://127.0.0.1:${env.PORT}/health`;
  for (const end = Date.now() + 30_000; Date.now() < end; await Bun.sleep(100)) {
    if (proc.exitCode !== null) throw new Error(`the chat service exited with ${proc.exitCode}:\n${chat.output()}`);
    if (await fetch(health).then((r) => r.ok, () => false)) return chat;
  }
  await chat.stop();
  throw new Error(`the chat service did not answer ${health} within 30 s:\n${chat.output()}`);
}

if (import.meta.main) {
  const dataDir = join(ROOT, "data", "demo");
  mkdirSync(dataDir, { recursive: true });
  const demo = await startDemo({
    hostPort: Number(process.env.PORT ?? 8080),
    chatPort: Number(process.env.CHAT_PORT ?? 3000),
    chatSocketPort: Number(process.env.CHAT_WS_PORT ?? 3001),
    chatEnv: { DATA_DIR: dataDir, LOG_LEVEL: "warn" },
  });
  console.log(`\nChat demo running. Open ${demo.url} in two browser windows (one private) and sign in with two names.\nCtrl+C stops it.\n`);
  process.once("SIGINT", () => void demo.stop().then(() => process.exit(0)));
  process.once("SIGTERM", () => void demo.stop().then(() => process.exit(0)));
}
