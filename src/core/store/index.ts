export type { Store } from "./types";
