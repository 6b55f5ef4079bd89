/**
 * DPoP (RFC 9449): a key pair the client holds, and a signed proof on each request that shows the
 * sender holds it, so that a stolen DPoP-bound token is useless without the key. Proofs carry the
 * request's method and URL (without query or fragment), a fresh `jti`, `iat` from `Clock`, the hash
 * of the access token on resource requests (`ath`), and the server's nonce once it asked for one.
 *
 * `withProofs` adds the proofs to any `HttpClient`; the token endpoint and `AuthorizedClient` take a
 * `Dpop` and do it for their requests. Generated and imported private keys are non-extractable
 * `CryptoKey`s: they are never printed, logged or serialized.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as WwwAuthenticate from "@tokenfx/core/WwwAuthenticate"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as jose from "jose"
import * as signingKey from "./internal/signingKey.js"

/**
 * A key that cannot be used for DPoP: not a private asymmetric key, or not for the algorithm.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidDpopKey extends Schema.TaggedError<InvalidDpopKey>("@tokenfx/http/InvalidDpopKey")(
  "InvalidDpopKey",
  { reason: Schema.String }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return `The DPoP key cannot be used: ${this.reason}`
  }
}

/**
 * A DPoP key pair and the nonces servers handed out for it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Dpop {
  readonly alg: string
  /** The public key, sent in every proof's header. */
  readonly publicJwk: jose.JWK
  /** The JWK thumbprint (RFC 7638) that DPoP-bound tokens name in their `cnf.jkt`. */
  readonly thumbprint: string
  /** A proof for one request. */
  readonly proof: (request: {
    readonly method: string
    readonly url: string | URL
    readonly accessToken?: Redacted.Redacted<string> | undefined
    readonly nonce?: string | undefined
  }) => Effect.Effect<string>
  /** The last nonce the server at `origin` sent. */
  readonly nonce: (origin: string) => string | undefined
  readonly setNonce: (origin: string, nonce: string) => void
}

/**
 * The algorithms a DPoP key may use (asymmetric only).
 *
 * @since 0.1.0
 * @category models
 */
export type Algorithm = "ES256" | "ES384" | "ES512" | "RS256" | "PS256" | "EdDSA" | "Ed25519"

const randomId = Effect.sync(() => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(16))))

/**
 * The `ath` of an access token: base64url of its SHA-256 (RFC 9449 section 4.2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const accessTokenHash = (accessToken: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.promise(() =>
    globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(Redacted.value(accessToken)))
  ).pipe(Effect.map((digest) => Encoding.encodeBase64Url(new Uint8Array(digest))))

/**
 * The `htu` of a request: its URL without query and fragment (RFC 9449 section 4.2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const htu = (url: string | URL): string => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

const fromKeys = (alg: string, privateKey: CryptoKey, publicKey: CryptoKey): Effect.Effect<Dpop, InvalidDpopKey> =>
  Effect.gen(function*() {
    const exported = yield* Effect.tryPromise({
      try: () => jose.exportJWK(publicKey),
      catch: () => new InvalidDpopKey({ reason: "its public key cannot be exported" })
    })
    // Only the public members: exportJWK of a public key has no others, but a provided pair is not trusted.
    const publicJwk = signingKey.publicMembers(exported)
    const thumbprint = yield* Effect.promise(() => jose.calculateJwkThumbprint(publicJwk))
    const nonces = new Map<string, string>()
    return {
      alg,
      publicJwk,
      thumbprint,
      nonce: (origin) => nonces.get(origin),
      setNonce: (origin, nonce) => {
        nonces.set(origin, nonce)
      },
      proof: (request) =>
        Effect.gen(function*() {
          const iat = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const jti = yield* randomId
          const ath = request.accessToken === undefined ? undefined : yield* accessTokenHash(request.accessToken)
          const payload: jose.JWTPayload = { htm: request.method.toUpperCase(), htu: htu(request.url), iat, jti }
          if (ath !== undefined) payload["ath"] = ath
          if (request.nonce !== undefined) payload["nonce"] = request.nonce
          return yield* Effect.promise(() =>
            new jose.SignJWT(payload).setProtectedHeader({ typ: "dpop+jwt", alg, jwk: publicJwk }).sign(privateKey)
          )
        })
    } satisfies Dpop
  })

/**
 * A fresh key pair from WebCrypto (ES256 unless told otherwise), its private half non-extractable.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (alg: Algorithm = "ES256"): Effect.Effect<Dpop, InvalidDpopKey> =>
  Effect.tryPromise({
    try: () => jose.generateKeyPair(alg, { extractable: false }),
    catch: () => new InvalidDpopKey({ reason: `no ${alg} key pair can be generated here` })
  }).pipe(
    // A `KeyObject` on Node (jose 5 runs on node:crypto there), a `CryptoKey` elsewhere: jose takes both.
    Effect.flatMap(({ privateKey, publicKey }) => fromKeys(alg, privateKey as CryptoKey, publicKey as CryptoKey))
  )

/**
 * A key pair from a private key given as a JWK (JSON) or PKCS #8 PEM, e.g. read with `Config.redacted`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPrivateKey = (
  key: Redacted.Redacted<string>,
  alg: Algorithm = "ES256"
): Effect.Effect<Dpop, InvalidDpopKey> =>
  signingKey.importPrivate(key, alg).pipe(
    Effect.mapError((reason) => new InvalidDpopKey({ reason })),
    Effect.flatMap(({ privateKey, publicKey }) => fromKeys(alg, privateKey, publicKey))
  )

/**
 * A key pair the application already holds (WebCrypto `CryptoKeyPair`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKeyPair = (pair: CryptoKeyPair, alg: Algorithm = "ES256"): Effect.Effect<Dpop, InvalidDpopKey> =>
  fromKeys(alg, pair.privateKey, pair.publicKey)

/**
 * The key pair kept under `key` in the `KeyValueStore`, generated and stored there the first time, so
 * that DPoP-bound tokens (refresh tokens above all) outlive the process. The store holds the private
 * key as a JWK: give it one that is safe for secrets (an encrypted or 0600 file store).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKeyValueStore = (
  key: string,
  alg: Algorithm = "ES256"
): Effect.Effect<Dpop, InvalidDpopKey, KeyValueStore.KeyValueStore> =>
  Effect.gen(function*() {
    const store = yield* KeyValueStore.KeyValueStore
    // The platform error is not kept: its description may hold what was being written.
    const storageError = () => new InvalidDpopKey({ reason: "the key store could not be read or written" })
    const stored = yield* Effect.mapError(store.get(key), storageError)
    if (Option.isSome(stored)) return yield* fromPrivateKey(Redacted.make(stored.value), alg)
    const pair = yield* Effect.tryPromise({
      try: () => jose.generateKeyPair(alg, { extractable: true }),
      catch: () => new InvalidDpopKey({ reason: `no ${alg} key pair can be generated here` })
    })
    const jwk = yield* Effect.promise(() => jose.exportJWK(pair.privateKey))
    const text = Redacted.make(JSON.stringify(jwk))
    yield* Effect.mapError(store.set(key, Redacted.value(text)), storageError)
    // Imported again non-extractable: the extractable copy goes out of scope here.
    return yield* fromPrivateKey(text, alg)
  })

const originOf = (url: string): string | undefined => URL.canParse(url) ? new URL(url).origin : undefined

const dpopAccessToken = (request: HttpClientRequest.HttpClientRequest): Redacted.Redacted<string> | undefined => {
  const match = /^DPoP\s+(\S+)\s*$/i.exec(request.headers["authorization"] ?? "")
  return match === null ? undefined : Redacted.make(match[1]!)
}

const addProof = (dpop: Dpop) => (request: HttpClientRequest.HttpClientRequest) => {
  const origin = originOf(request.url)
  // A relative URL cannot be named in a proof; the client fails it as an invalid URL anyway.
  if (origin === undefined) return Effect.succeed(request)
  return Effect.map(
    dpop.proof({
      method: request.method,
      url: request.url,
      accessToken: dpopAccessToken(request),
      nonce: dpop.nonce(origin)
    }),
    (proof) => HttpClientRequest.setHeader(request, "dpop", proof)
  )
}

const maxErrorBody = 16 * 1024

// An absent body reads as an empty one, as `readBounded` reads it.
const orEmpty = (error: HttpClientError.ResponseError) =>
  error.reason === "EmptyBody" ? Stream.empty : Stream.fail(error)

/**
 * The body's first `max` bytes as text (`undefined` when it is longer, or breaks), reading no more than
 * `max` bytes and one chunk of it; and the response again, the bytes read replayed before the rest, so
 * that the caller still reads (or cancels) the body the server sent.
 */
const peek = (response: HttpClientResponse.HttpClientResponse, max: number) =>
  Effect.gen(function*() {
    const body = yield* Stream.toReadableStreamEffect(Stream.catchAll(response.stream, orEmpty))
    const reader = body.getReader()
    const chunks: Array<Uint8Array> = []
    let size = 0
    let done = false
    yield* Effect.gen(function*() {
      while (!done && size <= max) {
        const next = yield* Effect.tryPromise(() => reader.read())
        if (next.done) done = true
        else {
          chunks.push(next.value)
          size += next.value.length
        }
      }
    }).pipe(
      // A body that breaks is the caller's to see, as it reads the copy.
      Effect.ignore,
      // Interrupted (the caller's timeout): nobody will read the rest, so let the connection go.
      Effect.onInterrupt(() => Effect.sync(() => reader.cancel().catch(() => undefined)))
    )
    const replayed = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk)
        if (done) controller.close()
      },
      async pull(controller) {
        const next = await reader.read()
        if (next.done) controller.close()
        else controller.enqueue(next.value)
      },
      cancel: (reason) => reader.cancel(reason)
    })
    const copy = HttpClientResponse.fromWeb(
      response.request,
      new Response(replayed, { status: response.status, headers: response.headers })
    )
    if (!done || size > max) return { text: undefined, response: copy }
    const bytes = new Uint8Array(size)
    let offset = 0
    for (const chunk of chunks) {
      bytes.set(chunk, offset)
      offset += chunk.length
    }
    const text = new TextDecoder().decode(bytes)
    return { text, response: copy }
  })

// The server wants a (fresher) nonce: a resource answers 401 with a DPoP challenge naming
// `use_dpop_nonce` (section 9), an authorization server 400 with that error code (section 8).
const asksForNonce = (
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<{ readonly retry: boolean; readonly response: HttpClientResponse.HttpClientResponse }> => {
  if (response.headers["dpop-nonce"] === undefined) return Effect.succeed({ retry: false, response })
  if (response.status === 401) {
    const challenges = WwwAuthenticate.parse(response.headers["www-authenticate"] ?? "")
    const retry = challenges.some((c) => c.scheme.toLowerCase() === "dpop" && c.params["error"] === "use_dpop_nonce")
    return Effect.succeed({ retry, response })
  }
  if (response.status !== 400) return Effect.succeed({ retry: false, response })
  // A body declared larger than an error worth reading is left, unread, for the caller's own limits.
  const declared = response.headers["content-length"]
  if (declared !== undefined && !(Number(declared) <= maxErrorBody)) return Effect.succeed({ retry: false, response })
  // Undeclared (chunked) or declared falsely: the length is known only by reading, so read no further than the cap.
  return Effect.map(peek(response, maxErrorBody), ({ response, text }) => ({
    retry: text !== undefined && Json.parseObject(text)?.["error"] === "use_dpop_nonce",
    response
  }))
}

/**
 * `self` with a DPoP proof on every request, signed with `dpop`'s key: `ath` when the request carries
 * `Authorization: DPoP <token>`, and the last nonce the request's origin sent. When the server answers
 * that it wants a nonce, the request is sent once more with it. To find that out, at most 16 KiB of a 400
 * answer are read; the response handed on still holds its whole body.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withProofs = <E, R>(
  self: HttpClient.HttpClient.With<E, R>,
  dpop: Dpop
): HttpClient.HttpClient.With<E, R> => {
  // After the client's own request transformations (a base URL), so the proof names the real target.
  const proved = HttpClient.mapRequestEffect(self, addProof(dpop))
  const send = (request: HttpClientRequest.HttpClientRequest) =>
    Effect.tap(proved.execute(request), (response) => {
      const nonce = response.headers["dpop-nonce"]
      const origin = originOf(response.request.url)
      if (nonce !== undefined && origin !== undefined) dpop.setNonce(origin, nonce)
    })
  return HttpClient.makeWith(
    (request: Effect.Effect<HttpClientRequest.HttpClientRequest, E, R>) =>
      Effect.flatMap(
        request,
        (request) =>
          Effect.flatMap(
            send(request),
            (first) =>
              Effect.flatMap(asksForNonce(first), ({ response, retry }) =>
                // A streamed body is gone once sent: its request cannot be tried again.
                retry && request.body._tag !== "Stream" ? send(request) : Effect.succeed(response))
          )
      ),
    Effect.succeed
  )
}
