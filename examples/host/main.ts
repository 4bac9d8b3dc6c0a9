#!/usr/bin/env bun
/** `bun examples/host/main.ts`: the host alone, beside a chat service started with the same secrets. */
import { loadHostConfig } from "./config";
import { jsonLog } from "./log";
import { startHost } from "./server";

const server = startHost(loadHostConfig());
jsonLog("host listening", { url: server.url.href });
