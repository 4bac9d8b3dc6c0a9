/**
 * Helpers for socket tests: acked calls, unique users, and a fence that proves an event did NOT
 * arrive (instead of sleeping and hoping).
 */
import type { Socket } from "socket.io-client";
import type { Ack, AckDataOf, ClientEvent, PayloadOf } from "../../src/client/wire";
import type { TestService } from "./service";
import { type ClientSocket, connectSocket, nextEvent } from "./sockets";

/** Emits `event` with an ack callback and waits (5 s at most) for the answer. */
export function call<E extends ClientEvent>(socket: ClientSocket, event: E, ...payload: [payload?: PayloadOf<E>]): Promise<Ack<AckDataOf<E>>> {
  return callUntyped(socket, event, ...payload);
}

/** The data of a successful ack; fails the test with the error otherwise. */
export async function ok<E extends ClientEvent>(socket: ClientSocket, event: E, payload?: PayloadOf<E>): Promise<AckDataOf<E>> {
  const res = await call(socket, event, payload);
  if (!res.ok) throw new Error(`${event} failed: ${JSON.stringify(res.error)}`);
  return res.data;
}

/** `call` for what the event maps refuse: unknown events, malformed payloads, extra arguments. */
export function callUntyped(socket: ClientSocket, event: string, ...payload: unknown[]): Promise<Ack<any>> {
  return (socket as unknown as Socket).timeout(5000).emitWithAck(event, ...payload);
}

let counter = 0;
/** Synced users with ids unique to this run, so that tests sharing a service do not see each other. */
export async function makeUsers(svc: TestService, ...names: string[]): Promise<string[]> {
  const tag = `${Date.now().toString(36)}${(counter++).toString(36)}`;
  const ids = names.map((n) => `${n}-${tag}`);
  await svc.syncUsers(...ids);
  return ids;
}

export async function connectAs(url: string, svc: TestService, userId: string, opts: Parameters<typeof connectSocket>[2] = {}) {
  return (await connectSocket(url, await svc.token(userId), opts)).socket;
}

export async function group(svc: TestService, ownerId: string, others: string[], name = "group"): Promise<string> {
  const owner = await svc.as(ownerId);
  const res = await owner.post("/api/conversations", { type: "group", participantIds: others, name });
  if (res.status !== 201) throw new Error(`create group: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** Ann and Bob in a group, Eve outside it; a socket each (Ann's on the HTTP port, the others on the socket port). */
export async function groupWithOutsider(svc: TestService) {
  const [ann, bob, eve] = await makeUsers(svc, "ann", "bob", "eve");
  const conversationId = await group(svc, ann!, [bob!]);
  const sockets = { ann: await connectAs(svc.url, svc, ann!), bob: await connectAs(svc.wsUrl, svc, bob!), eve: await connectAs(svc.wsUrl, svc, eve!) };
  return { ann: ann!, bob: bob!, eve: eve!, conversationId, sockets };
}

/**
 * A conversation every watched socket is in. `pass()` sends a message there and waits until each
 * watched socket still connected received it: events the service emitted before (from the same
 * instance) have been delivered by then, so a recorder that is still empty proves nothing was
 * sent to it.
 */
export async function fence(svc: TestService, members: { userId: string; socket: ClientSocket }[]) {
  const [first, ...rest] = members;
  const ownerId = first!.userId;
  const others = [...new Set(rest.map((m) => m.userId).filter((u) => u !== ownerId))];
  const joined = members.map((m) => nextEvent(m.socket, "conversation:new", (c: any) => c.name === "fence"));
  const conversationId = await group(svc, ownerId, others.length ? others : [ownerId], "fence");
  await Promise.all(joined);
  const owner = await svc.as(ownerId);
  let n = 0;
  return {
    conversationId,
    async pass(): Promise<void> {
      const content = `fence ${++n}`;
      const seen = members.filter((m) => m.socket.connected).map((m) => nextEvent(m.socket, "message:new", (msg: any) => msg.content === content));
      const sent = await owner.post(`/api/conversations/${conversationId}/messages`, { content });
      if (sent.status !== 201) throw new Error(`fence message: ${sent.status}`);
      await Promise.all(seen);
    },
  };
}

/** Ann and Bob in a group, Eve outside it, the three sockets behind one fence. */
export async function fencedGroupWithOutsider(svc: TestService) {
  const { ann, bob, eve, conversationId, sockets } = await groupWithOutsider(svc);
  const wall = await fence(svc, [
    { userId: ann, socket: sockets.ann },
    { userId: bob, socket: sockets.bob },
    { userId: eve, socket: sockets.eve },
  ]);
  return { ann, bob, eve, conversationId, sockets, wall };
}
