import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Option from "effect/Option"
import * as scrub from "./scrub.js"

// What a request carrying a credential is sent with. Each setting is a fiber-local the platform's
// client reads per request, and each change of one copies the fiber's whole `FiberRefs`: they are
// applied together, in one copy, and put back together, in one more.
//
// - The fetch client follows redirects unless told otherwise (undici and node:http never do): a
//   redirect must come back to the caller, so that no hop receives a credential unchecked.
//   `FetchHttpClient.RequestInit` is the platform's own hook for fetch's options: neither
//   `HttpClientRequest` nor `HttpClient` has a redirect mode of its own (`HttpClient.followRedirects`
//   follows on top of a client that does not).
// - The `HttpClient`'s own spans record request and response headers: they may record the values of
//   `scrub.safeHeaders` only, since a challenge may quote the credential it rejects and a server may
//   echo a token in any header it likes.
// - With a `guard`, it runs on every request the effect sends, at the lowest level: inside the
//   `HttpClient` that puts it on the wire, after any redirect loop of a wrapped client. Every client
//   built on `HttpClient.make` (fetch, undici, node:http) asks the `currentTracerDisabledWhen`
//   predicate about each request just before sending it; the guard runs there (with the tracer forced
//   on so that the predicate is asked, and the caller's tracing choices kept). A refused request is
//   never sent; the effect fails with the guard's `TransportError`.

// Carries a refusal out of the request hook, which can only return or throw.
class Refused {
  constructor(readonly error: OAuthError.TransportError) {}
}

type Entry = readonly [FiberRef.FiberRef<any>, readonly [readonly [FiberId.Single, unknown]]]

// All of `entries` in one copy of the fiber's `FiberRefs`.
const set = (entries: ReadonlyArray<Entry>) =>
  Effect.updateFiberRefs((_, refs) => FiberRefs.updateManyAs(refs, { entries: entries as [Entry, ...Array<Entry>] }))

/**
 * Runs `effect` with redirects handed back and only safe headers in the platform's spans: one change
 * of the fiber's `FiberRefs` for both.
 *
 * @internal
 */
export const send = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  run(effect, undefined) as Effect.Effect<A, E, R>

/**
 * As {@link send}, with every request `effect` puts on the wire checked by `guard` first.
 *
 * @internal
 */
export const sendGuarded = (
  guard: (request: HttpClientRequest.HttpClientRequest) => OAuthError.TransportError | undefined
) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | OAuthError.TransportError, R> => run(effect, guard)

const run = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  guard: ((request: HttpClientRequest.HttpClientRequest) => OAuthError.TransportError | undefined) | undefined
): Effect.Effect<A, E | OAuthError.TransportError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E | OAuthError.TransportError, R>((fiber) => {
      const id = fiber.id()
      const context = fiber.getFiberRef(FiberRef.currentContext)
      const names = fiber.getFiberRef(Headers.currentRedactedNames)
      const init = Context.getOption(context, FetchHttpClient.RequestInit)
      const settings: Array<Entry> = [
        [FiberRef.currentContext, [[
          id,
          Context.add(context, FetchHttpClient.RequestInit, {
            ...Option.getOrElse(init, () => ({})),
            redirect: "manual"
          })
        ]]],
        [Headers.currentRedactedNames, [[id, [...names, scrub.unsafeHeader]]]]
      ]
      const previous: Array<Entry> = [
        [FiberRef.currentContext, [[id, context]]],
        [Headers.currentRedactedNames, [[id, names]]]
      ]
      if (guard !== undefined) {
        const enabled = fiber.getFiberRef(FiberRef.currentTracerEnabled)
        const disabledWhen = fiber.getFiberRef(HttpClient.currentTracerDisabledWhen)
        const guarded = (request: HttpClientRequest.HttpClientRequest) => {
          const refused = guard(request)
          if (refused !== undefined) throw new Refused(refused)
          return !enabled || disabledWhen(request)
        }
        settings.push(
          [HttpClient.currentTracerDisabledWhen, [[id, guarded]]],
          [FiberRef.currentTracerEnabled, [[id, true]]]
        )
        previous.push(
          [HttpClient.currentTracerDisabledWhen, [[id, disabledWhen]]],
          [FiberRef.currentTracerEnabled, [[id, enabled]]]
        )
      }
      const sent = Effect.zipRight(set(settings), Effect.ensuring(restore(effect), set(previous)))
      return guard === undefined ?
        sent :
        Effect.catchSomeDefect(
          sent,
          (defect) => defect instanceof Refused ? Option.some(Effect.fail(defect.error)) : Option.none()
        )
    })
  )
