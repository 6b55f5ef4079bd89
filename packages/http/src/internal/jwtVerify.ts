import * as Json from "@tokenfx/core/Json"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as jose from "jose"
import type * as Jwks from "../Jwks.js"

/**
 * Why a signed JWT was refused. Each names one check; the description never quotes the token.
 *
 * @internal
 */
export const reasons = [
  "Malformed",
  "Algorithm",
  "Signature",
  "UnknownKey",
  "Issuer",
  "Audience",
  "Expired",
  "NotYetValid",
  "IssuedAt",
  "MissingClaim",
  "Type"
] as const

/** @internal */
export type Reason = typeof reasons[number]

/** @internal */
export interface Rejection {
  readonly _tag: "Rejection"
  readonly reason: Reason
  readonly claim?: string | undefined
  readonly description: string
}

/** @internal */
export const reject = (reason: Reason, description: string, claim?: string): Rejection => ({
  _tag: "Rejection",
  reason,
  claim,
  description
})

/**
 * The asymmetric algorithms a public key set can verify. Never `none`, never HMAC: a symmetric
 * algorithm with a published key would let anyone sign.
 *
 * @internal
 */
export const asymmetric: ReadonlyArray<string> = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519"
]

/**
 * A caller's policy made whole: its algorithms narrowed to the asymmetric ones (every one by default),
 * its clock skew 30 seconds by default.
 *
 * @internal
 */
export const policy = (options: {
  readonly algorithms?: ReadonlyArray<string> | undefined
  readonly clockSkew?: Duration.DurationInput | undefined
}): { readonly algorithms: ReadonlyArray<string>; readonly clockSkew: Duration.Duration } => ({
  algorithms: (options.algorithms ?? asymmetric).filter((alg) => asymmetric.includes(alg)),
  clockSkew: Duration.decode(options.clockSkew ?? Duration.seconds(30))
})

/** @internal */
export interface VerifyOptions {
  readonly algorithms: ReadonlyArray<string>
  readonly issuer: string
  readonly audience?: string | undefined
  readonly clockSkew: Duration.Duration
  readonly requiredClaims: ReadonlyArray<string>
  readonly typ?: string | undefined
}

const claimReason = (claim: string): Reason => {
  switch (claim) {
    case "iss":
      return "Issuer"
    case "aud":
      return "Audience"
    case "nbf":
      return "NotYetValid"
    case "iat":
      return "IssuedAt"
    case "exp":
      return "Expired"
    case "typ":
      return "Type"
    default:
      return "MissingClaim"
  }
}

// jose's own messages never hold the token, but they are not ours to promise: describe by code.
const fromJose = (error: unknown): Rejection => {
  if (error instanceof jose.errors.JWTExpired) return reject("Expired", "the token has expired", "exp")
  if (error instanceof jose.errors.JWTClaimValidationFailed) {
    const reason = claimReason(error.claim)
    return reject(
      reason,
      error.reason === "missing" ? `the ${error.claim} claim is missing` : `the ${error.claim} claim is not valid`,
      error.claim
    )
  }
  if (error instanceof jose.errors.JOSEAlgNotAllowed) return reject("Algorithm", "the algorithm is not allowed")
  if (error instanceof jose.errors.JWSSignatureVerificationFailed) {
    return reject("Signature", "the signature does not verify")
  }
  if (error instanceof jose.errors.JWKSNoMatchingKey) return reject("UnknownKey", "no key of the issuer matches")
  return reject("Malformed", "the token is not a valid signed JWT")
}

/**
 * Verifies `token` against `jwks`: the algorithm first (from the allowed list, so never `none` or a
 * symmetric one), then the signature, issuer, audience and times on `Clock` with `clockSkew`, then the
 * depth of the claims (at most `Json.maxDepth`). A key id the cached set lacks refetches the set once
 * (within its cooldown).
 *
 * @internal
 */
export const verify = (
  jwks: Jwks.Jwks,
  token: string,
  options: VerifyOptions
): Effect.Effect<jose.JWTVerifyResult, Rejection | Jwks.JwksError> =>
  Effect.gen(function*() {
    const header = Either.try(() => jose.decodeProtectedHeader(token))
    if (Either.isLeft(header) || token.split(".").length !== 3) {
      return yield* Effect.fail(reject("Malformed", "the token is not a signed JWT"))
    }
    const alg = header.right.alg
    if (alg === undefined || !options.algorithms.includes(alg)) {
      return yield* Effect.fail(reject("Algorithm", `the algorithm ${alg ?? "(none)"} is not allowed`))
    }
    const now = yield* Clock.currentTimeMillis
    const attempt = (keys: jose.JWTVerifyGetKey) =>
      Effect.tryPromise({
        try: () =>
          jose.jwtVerify(token, keys, {
            algorithms: [...options.algorithms],
            issuer: options.issuer,
            ...(options.audience === undefined ? {} : { audience: options.audience }),
            ...(options.typ === undefined ? {} : { typ: options.typ }),
            clockTolerance: Duration.toSeconds(options.clockSkew),
            requiredClaims: [...options.requiredClaims],
            currentDate: DateTime.toDateUtc(DateTime.unsafeMake(now))
          }),
        catch: fromJose
      }).pipe(
        // The claims are decoded by recursive schemas: a signature vouches for the issuer, not for its depth.
        Effect.filterOrFail(
          (result) => !Json.valueDepthExceeds(result.payload),
          () => reject("Malformed", "the claims are nested too deeply")
        )
      )
    const first = yield* Effect.either(Effect.flatMap(jwks.current, attempt))
    if (Either.isRight(first)) return first.right
    if (first.left._tag !== "Rejection" || first.left.reason !== "UnknownKey") return yield* Effect.fail(first.left)
    // A key the cached set lacks: the issuer may have rotated its keys since.
    if (!(yield* jwks.refresh)) return yield* Effect.fail(first.left)
    return yield* Effect.flatMap(jwks.current, attempt)
  })
