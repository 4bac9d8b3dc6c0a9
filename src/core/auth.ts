import { createHash, timingSafeEqual } from "node:crypto";
import { errors as joseErrors, type JWTVerifyOptions, jwtVerify } from "jose";
import type { Config } from "../config";
import { AppError } from "./errors";

/** The caller of a public endpoint or socket: an external user id the host synced. */
export type Actor = {
  userId: string;
  /** Epoch ms when the token stops being accepted: `exp` plus the leeway. A socket ends then. */
  tokenExpiresAt: number | null;
  /** The token's `iat` (Unix seconds), compared with a later revocation of the user's tokens. */
  issuedAt: number | null;
};

/** Whether a revocation of the tokens issued up to `revokedBefore` covers a token issued at `issuedAt`. */
export const isRevoked = (issuedAt: number | null, revokedBefore: number | null) =>
  revokedBefore !== null && (issuedAt === null || issuedAt <= revokedBefore);

/** A suspension in force: set, and without an end or ending later than now. */
export const isSuspended = (user: { suspended: boolean; suspendedUntil: Date | null }, now = Date.now()) =>
  user.suspended && (user.suspendedUntil === null || user.suspendedUntil.getTime() > now);

export const EXTERNAL_ID_PATTERN = "^[A-Za-z0-9_.:@-]{1,128}$";
const EXTERNAL_ID = new RegExp(EXTERNAL_ID_PATTERN);

/** Leeway for exp and nbf, as the contract allows; a socket's lifetime includes it too. */
const CLOCK_TOLERANCE_S = 30;

/**
 * How authentication refuses a verified token's user, in the order it judges: not synced or
 * deleted, the token revoked, the user suspended. A statement that reads the user itself (a
 * send's) refuses with these too.
 */
export const CALLER_REFUSALS = {
  no_user: () => new AppError("USER_NOT_FOUND", "User is not registered with the chat service"),
  revoked: () => new AppError("UNAUTHORIZED", "Token was revoked"),
  suspended: () => new AppError("FORBIDDEN", "User is suspended"),
};

/** The caller a verified token names, its user not yet read (`admit` reads it; so may a statement). */
export const claimedActor = ({ sub, iat, exp }: Claims): Actor => ({ userId: sub, tokenExpiresAt: exp !== null ? (exp + CLOCK_TOLERANCE_S) * 1000 : null, issuedAt: iat });

/** What authentication reads of a token's user: undefined when not synced or deleted. */
export type TokenUser = { revokedBefore: number | null; suspended: boolean; suspendedUntil: Date | null };

/** A verified token's claims. */
export type Claims = { sub: string; iat: number | null; exp: number | null };

export type Authenticator = {
  /** The token's signature and claims only (see `admit` for its user); throws AppError otherwise. */
  verify(token: string | undefined): Promise<Claims>;
  /** The caller of a verified token: reads its user now and refuses as `admit` does. */
  readCaller(claims: Claims): Promise<Actor>;
  /**
   * The caller of a verified token, given its user as read now (by a route's own statement, say):
   * refused when that user is not active, revoked the token, or is suspended (CALLER_REFUSALS, in that order).
   */
  admit(claims: Claims, user: TokenUser | undefined): Actor;
  /** Constant-time check of X-Internal-Secret. */
  isInternalSecret(value: string | undefined | null): boolean;
};

/**
 * `findActiveUser` reads the user a token names (the users feature answers): undefined when the
 * host never synced them or deleted them.
 */
export function createAuthenticator(
  config: Config,
  findActiveUser: (userId: string) => Promise<TokenUser | undefined>,
): Authenticator {
  // Imported once: given raw bytes, jose would import the key again for every token.
  const keys = Promise.all(
    config.AUTH_JWT_SECRET.map((secret) => crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"])),
  );
  const options = { algorithms: ["HS256"], clockTolerance: CLOCK_TOLERANCE_S, issuer: config.AUTH_JWT_ISSUER, audience: config.AUTH_JWT_AUDIENCE };
  const internalDigest = digest(config.INTERNAL_API_SECRET);
  const verified = new VerifiedTokens();

  /** The claims of a token whose signature and claims hold now; throws AppError otherwise. */
  const claimsOf = async (token: string): Promise<Claims> => {
    const known = verified.get(token);
    if (known) return known;
    let payload;
    try {
      ({ payload } = await verifyWithAny(token, await keys, options));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new AppError("TOKEN_EXPIRED", "Token has expired");
      throw new AppError("UNAUTHORIZED", "Invalid token");
    }
    const sub = payload.sub;
    if (typeof sub !== "string" || !EXTERNAL_ID.test(sub)) throw new AppError("UNAUTHORIZED", "Token has no valid sub claim");
    const claims = { sub, iat: typeof payload.iat === "number" ? payload.iat : null, exp: typeof payload.exp === "number" ? payload.exp : null };
    // A revocation covers the tokens issued up to a moment, and its mark never moves back: a token
    // "issued" later than now (beyond clock skew) would outlive every revocation of its user.
    if (claims.iat !== null && claims.iat > Date.now() / 1000 + CLOCK_TOLERANCE_S) throw new AppError("UNAUTHORIZED", "Token is issued in the future");
    verified.set(token, claims);
    return claims;
  };

  const verify = (token: string | undefined) => {
    if (!token) return Promise.reject(new AppError("UNAUTHORIZED", "Missing bearer token"));
    return claimsOf(token);
  };
  const admit = (claims: Claims, user: TokenUser | undefined): Actor => {
    if (!user) throw CALLER_REFUSALS.no_user();
    if (isRevoked(claims.iat, user.revokedBefore)) throw CALLER_REFUSALS.revoked();
    if (isSuspended(user)) throw CALLER_REFUSALS.suspended();
    return claimedActor(claims);
  };

  // Never cached: a revocation, a suspension or a deletion holds on every instance at once.
  const readCaller = async (claims: Claims) => admit(claims, await findActiveUser(claims.sub));

  return {
    verify,
    readCaller,
    admit,
    isInternalSecret(value) {
      if (!value) return false;
      return timingSafeEqual(digest(value), internalDigest);
    },
  };
}

/** Tokens remembered at most, oldest forgotten first: a client sends the same token for an hour. */
const VERIFIED_TOKENS_MAX = 10_000;

/**
 * Tokens whose signature and claims were verified, by the token string: the HMAC and jose's
 * parsing cost more than the rest of a small request. A token's verdict only changes with time
 * (the secrets are fixed for the process's life), so a remembered token is given again only while
 * `exp` (with the leeway) has not passed, exactly as jose would judge it; `nbf`, once passed,
 * stays passed. Refusals are not remembered. What else refuses a token (its user deleted,
 * suspended or its tokens revoked) is read for every request, not here.
 */
class VerifiedTokens {
  private readonly tokens = new Map<string, Claims>();

  get(token: string): Claims | undefined {
    const claims = this.tokens.get(token);
    if (!claims) return undefined;
    // jose: expired once exp <= now - leeway, in whole seconds.
    if (claims.exp !== null && claims.exp <= Math.floor(Date.now() / 1000) - CLOCK_TOLERANCE_S) {
      this.tokens.delete(token);
      return undefined;
    }
    return claims;
  }

  set(token: string, claims: Claims): void {
    if (this.tokens.size >= VERIFIED_TOKENS_MAX) this.tokens.delete(this.tokens.keys().next().value!);
    this.tokens.set(token, claims);
  }
}

/**
 * During a rotation a token may be signed with any of the secrets. Only a signature that does not
 * match moves on to the next key: a bad claim (expired, wrong audience) fails whatever the key.
 */
async function verifyWithAny(token: string, keys: CryptoKey[], options: JWTVerifyOptions) {
  for (const [index, key] of keys.entries()) {
    try {
      return await jwtVerify(token, key, options);
    } catch (error) {
      if (!(error instanceof joseErrors.JWSSignatureVerificationFailed) || index === keys.length - 1) throw error;
    }
  }
  throw new Error("no verification key");
}

/** Hashing first gives both sides the same length, which timingSafeEqual requires. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** `Authorization: Bearer <jwt>` → the token, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
