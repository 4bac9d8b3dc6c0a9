import { describe, expect, test } from "bun:test";
import { ConnectingSockets } from "../../src/core/realtime/connecting";

describe("room moves noted while sockets authenticate", () => {
  test("moves of the user are applied over the list read, in the order they were made", () => {
    const connecting = new ConnectingSockets();
    const socket = connecting.open("dan", null);
    connecting.moved(["dan", "eve"], "c1", false); // removed from a conversation the list has
    connecting.moved(["dan"], "c2", true); // added to one it lacks
    connecting.moved(["dan"], "c3", true); // added, then removed again
    connecting.moved(["dan"], "c3", false);
    connecting.moved(["dan"], "c4", false); // removed, then added again
    connecting.moved(["dan"], "c4", true);
    connecting.moved(["eve"], "c5", true); // another user's move
    expect(connecting.close(socket, ["c1", "c4", "c6"]).sort()).toEqual(["c2", "c4", "c6"]);
    expect(connecting.size).toBe(0);
  });

  test("each socket of a user has its own notes, from the moment it opened", () => {
    const connecting = new ConnectingSockets();
    const first = connecting.open("dan", null);
    connecting.moved(["dan"], "c1", true);
    const second = connecting.open("dan", null);
    connecting.moved(["dan"], "c2", true);
    expect(connecting.close(first, [])).toEqual(["c1", "c2"]);
    expect(connecting.size).toBe(1);
    expect(connecting.close(second, [])).toEqual(["c2"]);
    expect(connecting.size).toBe(0);
  });

  test("a list read with no move meanwhile is answered as read, and closing twice is harmless", () => {
    const connecting = new ConnectingSockets();
    const socket = connecting.open("dan", null);
    const read = ["c1", "c2"];
    expect(connecting.close(socket, read)).toBe(read);
    expect(connecting.close(socket, [])).toEqual([]);
    expect(connecting.size).toBe(0);
  });

  test("a disconnect of the user is kept for each of their connecting sockets; a revocation only for the tokens it covers", () => {
    const connecting = new ConnectingSockets();
    const old = connecting.open("dan", 1_000);
    const fresh = connecting.open("dan", 2_000);
    const other = connecting.open("eve", 1_000);
    connecting.revoked("dan", 1_500);
    expect(old.refusal).toEqual({ code: "UNAUTHORIZED", message: "Token was revoked" });
    expect(fresh.refusal).toBeUndefined();
    connecting.disconnected("dan", { code: "FORBIDDEN", message: "User is suspended" });
    expect(old.refusal?.code).toBe("UNAUTHORIZED"); // the first reason stays
    expect(fresh.refusal).toEqual({ code: "FORBIDDEN", message: "User is suspended" });
    expect(other.refusal).toBeUndefined();
  });
});
