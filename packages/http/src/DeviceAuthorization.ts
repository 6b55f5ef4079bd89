/**
 * The device authorization grant (RFC 8628) for input-constrained devices and command-line tools: the
 * device authorization response (the code the user types, where to type it, how long it lasts, how
 * often to poll) and the polling rules, as a `Schedule`.
 *
 * @since 0.1.0
 */
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import * as Schema from "effect/Schema"

// Shown to the user as sent (a CLI prints it to a terminal): no control or format characters, which
// could rewrite the screen (escape sequences) or reorder what it reads (bidi overrides).
const Displayable = Schema.NonEmptyString.pipe(
  Schema.filter((text) => !/[\p{Cc}\p{Cf}]/u.test(text))
).annotations({ description: "text without control characters" })

// Opened by the user: a web page, never a `javascript:` or `data:` URL.
const VerificationUri = Displayable.pipe(
  Schema.filter((text) => !/\s/.test(text) && URL.canParse(text) && /^https?:$/.test(new URL(text).protocol))
).annotations({ description: "an absolute http(s) URL" })

/**
 * The device authorization endpoint's answer (RFC 8628 section 3.2), snake_case as on the wire, with
 * unknown fields kept. The device code is a secret from the moment it is decoded. What the user is
 * shown is checked: the verification URIs are absolute `http:` or `https:` URLs, and neither they nor
 * the user code hold control or format characters.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeviceAuthorizationResponse = Schema.Struct(
  {
    device_code: Schema.Redacted(Schema.NonEmptyString),
    user_code: Displayable,
    verification_uri: VerificationUri,
    verification_uri_complete: Schema.optional(VerificationUri),
    expires_in: Token.Seconds,
    interval: Schema.optional(Token.Seconds)
  },
  Json.UnknownFields
).annotations({ identifier: "DeviceAuthorizationResponse" })

/**
 * The device authorization endpoint's answer (RFC 8628 section 3.2), decoded.
 *
 * @since 0.1.0
 * @category models
 */
export type DeviceAuthorizationResponse = typeof DeviceAuthorizationResponse.Type

/**
 * A pending device authorization: show the user `userCode` and `verificationUri` (or
 * `verificationUriComplete`, which carries the code), then poll until `expiresAt`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceAuthorization {
  readonly deviceCode: Redacted.Redacted<string>
  readonly userCode: string
  readonly verificationUri: string
  readonly verificationUriComplete?: string | undefined
  readonly expiresAt: DateTime.Utc
  /** The wait between two polls. */
  readonly interval: Duration.Duration
}

/**
 * The wait between polls when the server does not say (RFC 8628 section 3.2).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultInterval: Duration.Duration = Duration.seconds(5)

/**
 * How much slower to poll after each `slow_down` (RFC 8628 section 3.5).
 *
 * @since 0.1.0
 * @category constructors
 */
export const slowDownIncrement: Duration.Duration = Duration.seconds(5)

/**
 * The shortest wait between polls, whatever the server says. RFC 8628 lets a server choose the
 * interval (section 3.2, 5 seconds when it says nothing) but sets no lower bound; a server asking
 * for less than a second (`"0.0001"`) would have the client poll hundreds of times a second, which
 * no honest server wants and which RFC 8628 section 3.5's `slow_down` exists to prevent. One second
 * still honours servers that deliberately ask for faster polling than the default.
 *
 * @since 0.1.0
 * @category constructors
 */
export const minInterval: Duration.Duration = Duration.seconds(1)

/**
 * The longest a device code is waited for, whatever its `expires_in`: RFC 8628's example lifetime
 * is 30 minutes; a day covers any honest server, and a lifetime of 1e13 seconds is not a date.
 *
 * @since 0.1.0
 * @category constructors
 */
export const maxLifetime: Duration.Duration = Duration.days(1)

/**
 * Builds the pending authorization from a response received at `now` (epoch milliseconds or a
 * `DateTime`). The lifetime is capped at {@link maxLifetime}; the interval is at least
 * {@link minInterval}, and an interval of zero counts as not sent ({@link defaultInterval}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (response: DeviceAuthorizationResponse, now: DateTime.Utc | number): DeviceAuthorization => {
  const issued = typeof now === "number" ? now : DateTime.toEpochMillis(now)
  const lifetime = Math.min(response.expires_in * 1000, Duration.toMillis(maxLifetime))
  return {
    deviceCode: response.device_code,
    userCode: response.user_code,
    verificationUri: response.verification_uri,
    verificationUriComplete: response.verification_uri_complete,
    expiresAt: DateTime.unsafeMake(issued + Math.round(lifetime)),
    interval: response.interval === undefined || response.interval === 0
      ? defaultInterval
      : Duration.millis(Math.round(Math.min(
        Math.max(response.interval * 1000, Duration.toMillis(minInterval)),
        Duration.toMillis(maxLifetime)
      )))
  }
}

/**
 * How to poll.
 *
 * @since 0.1.0
 * @category models
 */
export interface PollOptions {
  /** Overrides the interval the server asked for (tests, or a server known to allow it). */
  readonly interval?: Duration.DurationInput | undefined
}

/**
 * The answers that mean "ask again": the user has not finished (`authorization_pending`), or the
 * client polls too fast (`slow_down`).
 *
 * @since 0.1.0
 * @category models
 */
export type Pending = OAuthError.AuthorizationPending | OAuthError.SlowDown

const isPending = (u: unknown): u is Pending =>
  Predicate.isTagged(u, "AuthorizationPending") || Predicate.isTagged(u, "SlowDown")

// A 429 beyond the endpoint's own retry budget: the user may still be approving, so polling goes on,
// after the wait the server asked for.
const isRateLimited = (u: unknown): u is OAuthError.RateLimited => Predicate.isTagged(u, "RateLimited")

// At least 5 s slower on each slow_down (RFC 8628 section 3.5 says "MUST") or 429, slower still when
// the server names a longer interval (GitHub): a stale or smaller one must not keep the pace.
const widen = (interval: Duration.Duration, error: unknown): Duration.Duration => {
  if (isRateLimited(error)) return Duration.sum(interval, slowDownIncrement)
  if (!Predicate.isTagged(error, "SlowDown")) return interval
  const slower = Duration.sum(interval, slowDownIncrement)
  const asked = (error as OAuthError.SlowDown).interval
  return asked === undefined ? slower : Duration.max(slower, asked)
}

// A wait never goes past the expiry (a poll after it cannot succeed) by more than the rest of its
// millisecond: a gap below a nanosecond would be no wait at all, and the code would be polled again
// and again until the clock moved.
const untilExpiry = (self: DeviceAuthorization, wait: Duration.Duration) =>
  Effect.map(
    Clock.currentTimeMillis,
    (now) => Duration.min(wait, Duration.millis(Math.max(0, Math.ceil(DateTime.toEpochMillis(self.expiresAt) - now))))
  )

/**
 * The schedule of the polls after the first (RFC 8628 section 3.5): it goes on while the answer is
 * {@link Pending}, every `interval`, 5 seconds slower after each `slow_down` (or slower still when the
 * `slow_down` names a longer interval), never waiting past the device code's expiry, and stops at the
 * expiry. A `RateLimited` answer (a 429 the endpoint did not wait out itself) slows the pace as a
 * `slow_down` does and waits at least its `Retry-After`; one asking to wait past the expiry ends
 * polling with it. Its output is the current interval.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = (self: DeviceAuthorization, options?: PollOptions): Schedule.Schedule<
  Duration.Duration,
  unknown
> =>
  Schedule.makeWithState(
    options?.interval === undefined ? self.interval : Duration.decode(options.interval),
    (now, input: unknown, interval) => {
      const next = widen(interval, input)
      const asked = isRateLimited(input) ? input.retryAfter : undefined
      const at = now + Duration.toMillis(asked === undefined ? next : Duration.max(next, asked))
      // No poll could be answered before the code expires: the rate limit is the answer, now.
      const decision = asked !== undefined && at >= DateTime.toEpochMillis(self.expiresAt)
        ? ScheduleDecision.done
        : ScheduleDecision.continueWith(ScheduleInterval.after(at))
      return Effect.succeed([next, next, decision] as const)
    }
  ).pipe(
    Schedule.whileInput((input) => isPending(input) || isRateLimited(input)),
    Schedule.modifyDelayEffect((_, delay) => untilExpiry(self, delay)),
    Schedule.checkEffect(() =>
      Effect.map(Clock.currentTimeMillis, (now) => now < DateTime.toEpochMillis(self.expiresAt))
    )
  )

/**
 * Polls with `request` (one token request with the device code) on {@link schedule}, after a first
 * wait of one interval, until it answers with anything but {@link Pending}. When the device code
 * expires first, no poll is sent after it and the result is `ExpiredToken`; a poll still running then
 * (retrying, or hanging) is interrupted. All waiting is on `Clock`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const poll: {
  (
    self: DeviceAuthorization,
    options?: PollOptions
  ): <A, E, R>(request: Effect.Effect<A, E, R>) => Effect.Effect<A, Exclude<E, Pending> | OAuthError.ExpiredToken, R>
  <A, E, R>(
    request: Effect.Effect<A, E, R>,
    self: DeviceAuthorization,
    options?: PollOptions
  ): Effect.Effect<A, Exclude<E, Pending> | OAuthError.ExpiredToken, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    request: Effect.Effect<A, E, R>,
    self: DeviceAuthorization,
    options?: PollOptions
  ): Effect.Effect<A, Exclude<E, Pending> | OAuthError.ExpiredToken, R> => {
    const expired = new OAuthError.ExpiredToken({
      description: "the device code expired before the authorization was completed"
    })
    const beforeExpiry = Effect.flatMap(
      Clock.currentTimeMillis,
      (now): Effect.Effect<A, E | OAuthError.ExpiredToken, R> =>
        now >= DateTime.toEpochMillis(self.expiresAt) ? Effect.fail(expired) : request
    )
    const first = options?.interval === undefined ? self.interval : Duration.decode(options.interval)
    const polls = Effect.flatMap(untilExpiry(self, first), Effect.sleep).pipe(
      Effect.zipRight(Effect.retry(beforeExpiry, schedule(self, options))),
      Effect.catchIf(
        (error): error is Extract<E, Pending> => isPending(error),
        () => Effect.fail(expired)
      )
    )
    // A poll that retries on its own (a `Retry-After`, a timeout) or hangs is cut at the expiry too:
    // nothing it could still send would be answered with a token.
    return Effect.flatMap(
      untilExpiry(self, Duration.infinity),
      (left) => Effect.timeoutFail(polls, { duration: left, onTimeout: () => expired })
    ) as Effect.Effect<A, Exclude<E, Pending> | OAuthError.ExpiredToken, R>
  }
)
