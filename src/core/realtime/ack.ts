/** The answer to every client→server event that passes a callback: defined with the rest of the wire types. */
export type { Ack } from "../../client/wire";
