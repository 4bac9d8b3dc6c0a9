/**
 * Three instances behind HAProxy (examples/deploy/haproxy.cfg): browsers reach Socket.IO through
 * one entry point, the host reaches REST and the internal API through another.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Balancer, startBalancer } from "../helpers/haproxy";
import { type Cluster, type Instance, startCluster } from "../helpers/instances";
import { ok } from "../helpers/realtime";
import { INTERNAL_SECRET, mintToken, sendRequest } from "../helpers/service";
import { closeAllSockets, connectError, connectSocket, nextEvent } from "../helpers/sockets";

let cluster: Cluster;
let instances: Instance[];
let balancer: Balancer;
beforeAll(async () => {
  cluster = await startCluster({ DATABASE_POOL_SIZE: "3" });
  instances = await Promise.all([cluster.start(), cluster.start(), cluster.start()]);
  balancer = await startBalancer(instances);
}, 90_000);
afterAll(async () => {
  closeAllSockets();
  await balancer?.stop();
  await cluster?.stop();
}, 60_000);

const host = (method: string, path: string, body?: unknown, headers: Record<string, string> = { "x-internal-secret": INTERNAL_SECRET }) =>
  sendRequest(balancer.hostUrl, method, path, { body, headers });

async function usersInGroup(...names: string[]) {
  const tag = Date.now().toString(36);
  const ids = names.map((n) => `${n}-${tag}`);
  expect((await host("POST", "/api/users/sync/batch", { users: ids.map((externalUserId) => ({ externalUserId })) })).status).toBe(200);
  const created = await host("POST", "/api/conversations", { type: "group", participantIds: ids.slice(1), name: "lb" }, { authorization: `Bearer ${await mintToken(ids[0]!)}` });
  expect(created.status).toBe(201);
  return { ids, conversationId: created.body.id as string };
}

describe("behind HAProxy", () => {
  test("websocket and polling clients talk through the browsers' entry point; REST goes through the host's", async () => {
    const { ids, conversationId } = await usersInGroup("ann", "bob", "cid");
    const [ann, bob, cid] = ids as [string, string, string];
    const sAnn = (await connectSocket(balancer.browserUrl, await mintToken(ann))).socket;
    // Polling keeps the session on one instance through HAProxy's cookie (socket.io-client in
    // Node and Bun keeps cookies when withCredentials is set, as a browser does).
    const polling = await connectSocket(balancer.browserUrl, await mintToken(bob), { transports: ["polling"], withCredentials: true });
    const sBob = polling.socket;
    const sCid = (await connectSocket(balancer.browserUrl, await mintToken(cid), { transports: ["polling", "websocket"], withCredentials: true })).socket;
    expect(polling.connected.rooms).toContain(conversationId);

    for (let round = 0; round < 3; round++) {
      const atBob = nextEvent(sBob, "message:new", (m: any) => m.content === `from ann ${round}`);
      const atCid = nextEvent(sCid, "message:new", (m: any) => m.content === `from ann ${round}`);
      const sent = await ok(sAnn, "message:send", { conversationId, content: `from ann ${round}` });
      expect(await atBob).toEqual(sent);
      expect(await atCid).toEqual(sent);
      const atAnn = nextEvent(sAnn, "message:new", (m: any) => m.content === `from bob ${round}`);
      const reply = await ok(sBob, "message:send", { conversationId, content: `from bob ${round}` });
      expect(await atAnn).toEqual(reply);
    }
    const page = await host("GET", `/api/conversations/${conversationId}/messages`, undefined, { authorization: `Bearer ${await mintToken(cid)}` });
    expect(page.body.data.map((m: any) => m.content)).toEqual([0, 1, 2].flatMap((r) => [`from ann ${r}`, `from bob ${r}`]));
  });

  test("without sticky sessions polling fails: another instance answers 400 Session ID unknown; websockets still work", async () => {
    const unsticky = await startBalancer(instances, { sticky: false });
    try {
      const { ids } = await usersInGroup("dan", "eve");
      // A session's requests spread over the instances: those that did not make it refuse it.
      const handshake = await fetch(`${unsticky.browserUrl}/socket.io/?EIO=4&transport=polling`, { headers: { authorization: `Bearer ${await mintToken(ids[0]!)}` } });
      const { sid } = JSON.parse((await handshake.text()).slice(1));
      const answers = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${unsticky.browserUrl}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "40" });
        answers.push({ status: res.status, body: await res.text() });
      }
      expect(answers).toContainEqual({ status: 400, body: JSON.stringify({ code: 1, message: "Session ID unknown" }) });

      const refused = await connectError(unsticky.browserUrl, await mintToken(ids[0]!), { transports: ["polling"] });
      expect(refused.message).toMatch(/poll|xhr/i);
      const { connected } = await connectSocket(unsticky.browserUrl, await mintToken(ids[1]!), { transports: ["websocket"] });
      expect(connected.userId).toBe(ids[1]!);
    } finally {
      await unsticky.stop();
    }
  });
});
