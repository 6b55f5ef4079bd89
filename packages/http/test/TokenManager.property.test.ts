import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Array from "effect/Array"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { access, login, makeServer, managerFor, requests, reusedRefreshTokens } from "./utils/authorizationServer.js"

// Two managers share one store, as two processes would: `self` is the one under test, `other` is
// another holder that also refreshes (its rotations are the "server rotations" `self` must follow).
type Step =
  | { readonly _tag: "Get"; readonly key: string; readonly callers: number }
  | { readonly _tag: "GetBoth"; readonly key: string; readonly callers: number }
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "Unauthorized"; readonly key: string; readonly callers: number }
  | { readonly _tag: "OtherRotates"; readonly key: string }

const key = FastCheck.constantFrom("alice", "bob")
const callers = FastCheck.integer({ min: 1, max: 20 })

const step: FastCheck.Arbitrary<Step> = FastCheck.oneof(
  FastCheck.record({ _tag: FastCheck.constant("Get" as const), key, callers }),
  FastCheck.record({ _tag: FastCheck.constant("GetBoth" as const), key, callers }),
  FastCheck.record({
    _tag: FastCheck.constant("Advance" as const),
    millis: FastCheck.integer({ min: 0, max: 70_000 })
  }),
  FastCheck.record({ _tag: FastCheck.constant("Unauthorized" as const), key, callers }),
  FastCheck.record({ _tag: FastCheck.constant("OtherRotates" as const), key })
)

const LATENCY = 50

describe("TokenManager properties", () => {
  it.effect.prop(
    "never presents a rotated refresh token and refreshes at most once per expiry per key",
    { steps: FastCheck.array(step, { minLength: 1, maxLength: 25 }) },
    ({ steps }) =>
      Effect.scoped(Effect.gen(function*() {
        // Rotation with reuse detection: a rotated refresh token presented again is refused.
        const server = yield* makeServer({ latency: LATENCY })
        const store = yield* TokenStore.makeMemory
        const { manager: self } = yield* managerFor(server, {}, store)
        const { manager: other } = yield* managerFor(server, {}, store)
        const refreshes = requests(server)
        // The access token each caller of `self` last used, per key: what a 401 would name.
        const used = new Map<string, Token.Token>()
        // Whose each access token served is: a token is never served for another key.
        const owner = new Map<string, string>()
        for (const user of ["alice", "bob"]) {
          const token = yield* login(server, user)
          yield* self.set(user, token)
          used.set(user, token)
          owner.set(access(token), user)
        }

        // A refresh is due when the freshest stored token is in its window, or is the one `self` saw rejected.
        const storedDue = (user: string, rejected?: Token.Token) =>
          Effect.gen(function*() {
            const stored = Option.getOrThrow(yield* store.get(user)).token
            return (yield* Expiry.needsRefresh(stored)) ||
              (rejected !== undefined && Token.sameAccessToken(stored, rejected))
          })

        let startedAt = 0
        // Runs concurrent callers to completion, moving the clock on (server latency, lease polls).
        const concurrently = <A, E>(effects: ReadonlyArray<Effect.Effect<A, E>>) =>
          Effect.gen(function*() {
            startedAt = yield* Clock.currentTimeMillis
            const fiber = yield* Effect.fork(Effect.all(effects, { concurrency: "unbounded" }))
            for (let i = 0; i < 100 && Option.isNone(yield* Fiber.poll(fiber)); i++) {
              yield* TestClock.adjust(LATENCY)
            }
            return yield* Fiber.join(fiber)
          })

        // Tokens served are valid when asked for; `self`'s last one is what its next 401 names.
        const checkTokens = (user: string, tokens: ReadonlyArray<Token.Token>, fromSelf: number) => {
          for (const token of tokens) {
            const expiredAt = Expiry.expiredAt(token)
            assert.isFalse(
              expiredAt !== undefined && startedAt >= DateTime.toEpochMillis(expiredAt),
              "an expired token was served"
            )
            assert.strictEqual(owner.get(access(token)) ?? user, user, "another key's token was served")
            owner.set(access(token), user)
          }
          used.set(user, tokens[fromSelf - 1])
        }

        for (const current of steps) {
          const before = yield* refreshes
          switch (current._tag) {
            case "Advance": {
              yield* TestClock.adjust(current.millis)
              assert.strictEqual(yield* refreshes, before, "no background refresh was asked for")
              break
            }
            case "Get":
            case "GetBoth": {
              const due = yield* storedDue(current.key)
              const gets = Array.makeBy(current.callers, () => self.get(current.key))
              const both = current._tag === "GetBoth"
                ? [...gets, ...Array.makeBy(current.callers, () => other.get(current.key))]
                : gets
              checkTokens(current.key, yield* concurrently(both), current.callers)
              assert.strictEqual((yield* refreshes) - before, due ? 1 : 0, `${current._tag} ${current.key}`)
              break
            }
            case "Unauthorized": {
              // Concurrent 401s of the token last used, as AuthorizedClient reports them.
              const rejected = used.get(current.key)!
              const due = yield* storedDue(current.key, rejected)
              const answers = yield* concurrently(
                Array.makeBy(current.callers, () =>
                  Effect.zip(self.invalidate(current.key, rejected), self.get(current.key)))
              )
              const tokens = answers.map(([, token]) =>
                token
              )
              checkTokens(current.key, tokens, tokens.length)
              if (answers.every(([retry]) => !retry)) {
                // Coalesced: a 401 led to a refresh moments ago, so this one does not (and is not retried).
                assert.strictEqual(
                  (yield* refreshes) - before,
                  due && !Token.sameAccessToken(
                      Option.getOrThrow(yield* store.get(current.key)).token,
                      rejected
                    ) ?
                    1 :
                    0,
                  `coalesced 401 ${current.key}`
                )
                break
              }
              assert.isTrue(
                tokens.every((token) => !Token.sameAccessToken(token, rejected)),
                "a rejected token"
              )
              assert.strictEqual((yield* refreshes) - before, due ? 1 : 0, `401 ${current.key}`)
              break
            }
            case "OtherRotates": {
              // The other holder sees a 401 and rotates the refresh token: `self` must follow.
              const [seen] = yield* concurrently([other.get(current.key)])
              yield* concurrently([Effect.zipRight(other.invalidate(current.key, seen), other.get(current.key))])
              assert.isAtMost((yield* refreshes) - before, 2)
              break
            }
          }
          assert.strictEqual(yield* reusedRefreshTokens(server), 0, "a rotated refresh token was presented")
        }
        // Every refresh token was presented once at most: each refresh request got a new generation.
        const stats = yield* server.stats
        assert.strictEqual(stats.tokensIssued["refresh_token"] ?? 0, stats.tokenRequests["refresh_token"] ?? 0)
      })),
    { fastCheck: { numRuns: 60 } }
  )
})
