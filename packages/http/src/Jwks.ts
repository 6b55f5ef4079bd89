/**
 * An issuer's JSON Web Key Set (RFC 7517), fetched from its `jwks_uri` through the `HttpClient` and
 * cached: refetched when it is older than `maxAge`, or when a token names a key it does not hold (a
 * key rotation at the issuer), but never more often than once per `cooldown`, so that tokens with
 * made-up key ids cannot turn the client into a flood of requests. When a refetch fails, the last set
 * is kept and tried again after `cooldown`.
 *
 * Only public keys are kept; the set is handed to `jose` for verification.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as SynchronizedRef from "effect/SynchronizedRef"
import * as jose from "jose"
import * as Backoff from "./Backoff.js"
import * as narrow from "./internal/narrow.js"
import * as transport from "./internal/transport.js"

/**
 * The key set document: an object with a `keys` array of objects (each key is checked by `jose`), whose
 * `__proto__`, `constructor` and `prototype` members are dropped.
 *
 * @since 0.1.0
 * @category schemas
 */
export const KeySet = Schema.Struct({
  keys: Schema.Array(Json.UnknownFields)
}).annotations({ identifier: "JsonWebKeySet" })

/**
 * The errors fetching a key set can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type JwksError = OAuthError.RequestError

/**
 * A cached key set.
 *
 * @since 0.1.0
 * @category models
 */
export interface Jwks {
  readonly uri: string
  /** The cached key resolver, fetching the set first when there is none or it is older than `maxAge`. */
  readonly current: Effect.Effect<jose.JWTVerifyGetKey, JwksError>
  /**
   * Refetches the set because a token named a key that is not in it; `false` (and no request) when
   * the last fetch is less than `cooldown` ago.
   */
  readonly refresh: Effect.Effect<boolean, JwksError>
}

/**
 * Where the key set is and how it is cached.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The issuer's `jwks_uri`. */
  readonly uri: string
  /** How long a fetched set is used before it is fetched again; default 10 minutes. */
  readonly maxAge?: Duration.DurationInput | undefined
  /** The least time between two fetches for an unknown key; default 30 seconds. */
  readonly cooldown?: Duration.DurationInput | undefined
  /** Per request; default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  readonly backoff?: Backoff.Options | undefined
  /** The most bytes of an answer read; default 1 MiB. A `TokenEndpoint` passes its own. */
  readonly maxBodySize?: number | undefined
  /** Allow a plain-HTTP `uri` that is not a loopback address (tests only). */
  readonly allowInsecureHttp?: boolean | undefined
}

interface State {
  readonly resolver: jose.JWTVerifyGetKey | undefined
  readonly fetchedAt: number
}

const narrowed = narrow.narrow(narrow.serverTags)
const decodeKeySet = transport.decode(KeySet)

// Private key members (RFC 7518 section 6): an issuer that publishes them by mistake must not have
// them kept, logged or used.
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

const publicOnly = (key: Readonly<Record<string, unknown>>): jose.JWK =>
  Object.fromEntries(Object.entries(key).filter(([name]) => !privateMembers.includes(name))) as unknown as jose.JWK

/**
 * A key set cache for `options.uri`. Nothing is fetched until a key is needed; concurrent callers
 * share one fetch.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Jwks, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const settings = transport.settings(options)
    const policy = Backoff.policy(options.backoff)
    const maxAge = Duration.toMillis(options.maxAge ?? Duration.minutes(10))
    const cooldown = Duration.toMillis(options.cooldown ?? Duration.seconds(30))
    const state = yield* SynchronizedRef.make<State>({ resolver: undefined, fetchedAt: 0 })

    const fetch = transport.send(client, { method: "GET", url: options.uri }, settings).pipe(
      Effect.mapError(narrowed),
      Backoff.retry({ policy }),
      Effect.flatMap((answer) =>
        Either.flatMap(decodeKeySet(answer), (set) =>
          Either.try({
            try: () => jose.createLocalJWKSet({ keys: set.keys.map(publicOnly) }),
            catch: () =>
              new OAuthError.MalformedResponse({
                reason: "expected a JSON Web Key Set",
                field: "keys",
                status: answer.status,
                endpoint: answer.endpoint
              })
          }))
      ),
      Effect.flatMap((resolver) =>
        Effect.map(Clock.currentTimeMillis, (fetchedAt): State => ({ resolver, fetchedAt }))
      ),
      Effect.withSpan("Jwks.fetch", { attributes: { "url.full": options.uri } })
    )

    const current = SynchronizedRef.modifyEffect(state, (s) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const resolver = s.resolver
        if (resolver !== undefined && now - s.fetchedAt < maxAge) return Effect.succeed([resolver, s] as const)
        const fetched = Effect.map(fetch, (next) => [next.resolver!, next] as const)
        if (resolver === undefined) return fetched
        // An issuer whose key set is briefly unreachable: its last keys still verify, and the set is
        // tried again after a cooldown rather than on every token.
        return Effect.orElseSucceed(
          fetched,
          () => [resolver, { resolver, fetchedAt: now - maxAge + cooldown }] as const
        )
      }))

    const refresh = SynchronizedRef.modifyEffect(
      state,
      (s) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          s.resolver !== undefined && now - s.fetchedAt < cooldown
            ? Effect.succeed<readonly [boolean, State]>([false, s])
            : Effect.map(fetch, (next): readonly [boolean, State] => [true, next]))
    )

    return { uri: options.uri, current, refresh }
  })
