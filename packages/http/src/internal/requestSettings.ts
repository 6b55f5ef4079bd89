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
// client reads per request, and changing one builds a new `FiberRefs` for the whole fiber. So the
// settings are prepared once per fiber and swapped in whole, and the fiber's own refs swapped back
// after the request: two reads of the refs (each a copy, in Effect), where applying and undoing the
// settings took four copies and a new context per request.
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

type Guard = (request: HttpClientRequest.HttpClientRequest) => OAuthError.TransportError | undefined

// The settings applied to `from`, a fiber's refs, and what they replaced.
interface Prepared {
  readonly from: FiberRefs.FiberRefs
  readonly refs: FiberRefs.FiberRefs
  readonly previous: ReadonlyArray<Entry>
}

const prepare = (id: FiberId.Runtime, original: FiberRefs.FiberRefs, guard: Guard | undefined): Prepared => {
  const context = FiberRefs.getOrDefault(original, FiberRef.currentContext)
  const names = FiberRefs.getOrDefault(original, Headers.currentRedactedNames)
  const init = Context.getOption(context, FetchHttpClient.RequestInit)
  const settings: Array<Entry> = [
    [FiberRef.currentContext, [[
      id,
      Context.add(context, FetchHttpClient.RequestInit, { ...Option.getOrElse(init, () => ({})), redirect: "manual" })
    ]]],
    [Headers.currentRedactedNames, [[id, [...names, scrub.unsafeHeader]]]]
  ]
  const previous: Array<Entry> = [
    [FiberRef.currentContext, [[id, context]]],
    [Headers.currentRedactedNames, [[id, names]]]
  ]
  if (guard !== undefined) {
    const enabled = FiberRefs.getOrDefault(original, FiberRef.currentTracerEnabled)
    const disabledWhen = FiberRefs.getOrDefault(original, HttpClient.currentTracerDisabledWhen)
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
  const refs = FiberRefs.updateManyAs(original, { entries: settings as [Entry, ...Array<Entry>] })
  return { from: original, refs, previous }
}

// Whether `after` holds what `before` held: every ref's current value and its owner alike. What the
// request changed and put back (a span's parent, say) leaves new stacks holding the same values. The
// runtime flags are left out: the refs only hold a copy of them, taken whenever they are read.
const unchanged = (after: FiberRefs.FiberRefs, before: FiberRefs.FiberRefs): boolean => {
  if (after === before) return true
  let compared = 0
  for (const [ref, stack] of after.locals) {
    if (ref === FiberRef.currentRuntimeFlags) continue
    const held = before.locals.get(ref)
    if (held === undefined) return false
    if (stack !== held && (stack.length !== held.length || stack[0][0] !== held[0][0] || stack[0][1] !== held[0][1])) {
      return false
    }
    compared++
  }
  return compared === before.locals.size - (before.locals.has(FiberRef.currentRuntimeFlags) ? 1 : 0)
}

const make = (guard: Guard | undefined) => {
  // Per fiber, what it last sent with. Its refs are often a new copy of the same values by the next
  // request (reading a response body, or any read of its refs, copies them), so they are compared by
  // value; settings are prepared afresh only when something in the fiber really changed.
  const cache = new WeakMap<FiberId.Runtime, Prepared>()
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | OAuthError.TransportError, R> => {
    const sent = Effect.uninterruptibleMask((restore) => {
      let original: FiberRefs.FiberRefs
      let prepared: Prepared
      const swapIn = Effect.updateFiberRefs((id, refs) => {
        original = refs
        const last = cache.get(id)
        prepared = last !== undefined && unchanged(refs, last.from) ? last : prepare(id, refs, guard)
        if (prepared !== last) cache.set(id, prepared)
        return prepared.refs
      })
      // The fiber's own refs come back, unless the request changed something it did not put back:
      // then only the settings are undone, and that change is kept.
      const putBack = Effect.updateFiberRefs((_, after) =>
        unchanged(after, prepared.refs)
          ? original
          : FiberRefs.updateManyAs(after, { entries: prepared.previous as [Entry, ...Array<Entry>] })
      )
      return Effect.zipRight(swapIn, Effect.ensuring(restore(effect), putBack))
    })
    return guard === undefined ? sent : Effect.catchSomeDefect(
      sent,
      (defect) => defect instanceof Refused ? Option.some(Effect.fail(defect.error)) : Option.none()
    )
  }
}

const unguarded = make(undefined)

/**
 * Runs `effect` with redirects handed back and only safe headers in the platform's spans.
 *
 * @internal
 */
export const send = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  unguarded(effect) as Effect.Effect<A, E, R>

/**
 * As {@link send}, with every request `effect` puts on the wire checked by `guard` first. Build it
 * once per client: the prepared settings are kept per guard.
 *
 * @internal
 */
export const sendGuarded = (
  guard: Guard
): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | OAuthError.TransportError, R> => make(guard)
