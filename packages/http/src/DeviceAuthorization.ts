/**
 * The device authorization grant (RFC 8628) for input-constrained devices and command-line tools: the
 * device authorization response (the code the user types, where to type it, how long it lasts, how
 * often to poll) and the polling rules.
 *
 * @since 0.1.0
 */
import * as Json from "@tokenfx/core/Json"
import * as Token from "@tokenfx/core/Token"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * The device authorization endpoint's answer (RFC 8628 section 3.2), snake_case as on the wire, with
 * unknown fields kept. The device code is a secret from the moment it is decoded.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DeviceAuthorizationResponse = Schema.Struct(
  {
    device_code: Schema.Redacted(Schema.NonEmptyString),
    user_code: Schema.NonEmptyString,
    verification_uri: Schema.NonEmptyString,
    verification_uri_complete: Schema.optional(Schema.String),
    expires_in: Token.Seconds,
    interval: Schema.optional(Token.Seconds)
  },
  Json.UnknownFields
).annotations({ identifier: "DeviceAuthorizationResponse" })

/**
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
 * Builds the pending authorization from a response received at `now` (epoch milliseconds or a
 * `DateTime`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (response: DeviceAuthorizationResponse, now: DateTime.Utc | number): DeviceAuthorization => {
  const issued = typeof now === "number" ? now : DateTime.toEpochMillis(now)
  return {
    deviceCode: response.device_code,
    userCode: response.user_code,
    verificationUri: response.verification_uri,
    verificationUriComplete: response.verification_uri_complete,
    expiresAt: DateTime.unsafeMake(issued + Math.round(response.expires_in * 1000)),
    // An interval of zero would hammer the server: it counts as not sent.
    interval: response.interval === undefined || response.interval === 0
      ? defaultInterval
      : Duration.millis(Math.round(response.interval * 1000))
  }
}
