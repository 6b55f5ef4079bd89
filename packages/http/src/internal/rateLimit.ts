/**
 * Counting the waits an authorization server imposes: an endpoint's shared cooldown that really held a
 * request back, and a retry delayed because the server rate limited or named a `Retry-After`.
 */
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as cooldown from "./cooldown.js"

/** The cooldown, counting in `waits` each wait it imposed. @internal */
export const countWaits = (
  self: cooldown.Cooldown | undefined,
  waits: Metric.Metric.Counter<number>
): cooldown.Cooldown | undefined =>
  self === undefined ? undefined : {
    extend: self.extend,
    // Counted when the cooldown held the request back, not whenever the clock moved meanwhile.
    wait: (deadline) => Effect.tap(self.wait(deadline), (waited) => waited ? Metric.increment(waits) : Effect.void)
  }

/** Whether a retry after `error` waits because the server asked it to. @internal */
export const imposed = (error: OAuthError.OAuthError): boolean =>
  error._tag === "RateLimited" || ("retryAfter" in error && error.retryAfter !== undefined)
