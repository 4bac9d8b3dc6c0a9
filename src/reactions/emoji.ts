import { invalid } from "../core/errors";

const SHORT_CODE = /^:[a-z0-9_+-]{1,32}:$/;
const RGI_EMOJI = /^\p{RGI_Emoji}$/v;
const PICTOGRAPH = /^\p{Extended_Pictographic}$/u;

/**
 * An emoji is one fully-qualified emoji (one grapheme: skin tones, ZWJ families and flags
 * included) or a `:short_code:`. A pictograph typed without its emoji presentation selector
 * ("❤") is stored in its qualified form ("❤️"), so that both count as the same reaction.
 */
export function normalizeEmoji(value: string): string {
  if (SHORT_CODE.test(value) || RGI_EMOJI.test(value)) return value;
  if (PICTOGRAPH.test(value) && RGI_EMOJI.test(value + "\uFE0F")) return value + "\uFE0F";
  throw invalid("emoji must be a single emoji or a :short_code: of 1-32 characters [a-z0-9_+-]", [{ path: "/emoji", message: "not an emoji" }]);
}
