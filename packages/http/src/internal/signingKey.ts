import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"

/**
 * The public members of an asymmetric JWK (RFC 7518 section 6), nothing else.
 *
 * @internal
 */
export const publicMembers = (jwk: jose.JWK): jose.JWK => {
  const kept: Record<string, string> = {}
  for (const name of ["kty", "crv", "x", "y", "n", "e"] as const) {
    const value = jwk[name]
    if (typeof value === "string") kept[name] = value
  }
  return kept as unknown as jose.JWK
}

/** @internal */
export interface KeyPair {
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  /** The `kid` of a JWK, if it had one. */
  readonly kid?: string | undefined
}

const parseJwk = (text: string): jose.JWK | undefined => {
  try {
    const parsed: unknown = JSON.parse(text)
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed as jose.JWK : undefined
  } catch {
    // The parser's message quotes the text: the key. It is never kept.
    return undefined
  }
}

/**
 * Imports a private key given as a JWK (JSON text) or PKCS #8 PEM for `alg`, non-extractable, with
 * its public half. A failure is a reason that never quotes the key (nor the parser's or WebCrypto's
 * message, which might).
 *
 * @internal
 */
export const importPrivate = (key: Redacted.Redacted<string>, alg: string): Effect.Effect<KeyPair, string> =>
  Effect.gen(function*() {
    const text = Redacted.value(key).trim()
    let jwk: jose.JWK | undefined
    if (text.startsWith("-----BEGIN")) {
      if (!text.startsWith("-----BEGIN PRIVATE KEY-----")) {
        return yield* Effect.fail("a PEM key must be PKCS #8 (BEGIN PRIVATE KEY)")
      }
      const extractable = yield* Effect.tryPromise({
        try: () => jose.importPKCS8(text, alg, { extractable: true }),
        catch: () => `the PEM key is not a private key for ${alg}`
      })
      // Exported only to derive the public half and re-import the private one non-extractable.
      jwk = yield* Effect.tryPromise({
        try: () => jose.exportJWK(extractable),
        catch: () => "the PEM key cannot be read"
      })
    } else {
      jwk = parseJwk(text)
      if (jwk === undefined) return yield* Effect.fail("the key is neither a JWK (JSON) nor a PEM private key")
    }
    if (typeof jwk.d !== "string") return yield* Effect.fail("the key is not a private key")
    if (jwk.kty === "oct") return yield* Effect.fail("the key is symmetric")
    const { kid } = jwk
    const privateJwk: Record<string, string> = { ...publicMembers(jwk) } as unknown as Record<string, string>
    for (const name of ["d", "p", "q", "dp", "dq", "qi"] as const) {
      const value = jwk[name]
      if (typeof value === "string") privateJwk[name] = value
    }
    const privateKey = yield* Effect.tryPromise({
      try: () => jose.importJWK(privateJwk as unknown as jose.JWK, alg),
      catch: () => `the key is not a private key for ${alg}`
    })
    const publicKey = yield* Effect.tryPromise({
      try: () => jose.importJWK(publicMembers(jwk), alg),
      catch: () => `the key's public half is not a key for ${alg}`
    })
    // A symmetric key imports as bytes; an asymmetric one as a key object (a WebCrypto `CryptoKey`, or
    // a Node `KeyObject` where jose runs on node:crypto), which jose signs and verifies with alike.
    if (privateKey instanceof Uint8Array || publicKey instanceof Uint8Array) {
      return yield* Effect.fail("the key is symmetric")
    }
    return { privateKey: privateKey as CryptoKey, publicKey: publicKey as CryptoKey, kid }
  })
