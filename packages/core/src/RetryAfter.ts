/**
 * The `Retry-After` header (RFC 9110 section 10.2.3): how long a server asks a client to wait, as
 * delay-seconds or an HTTP date.
 *
 * @since 0.4.0
 */
import * as Duration from "effect/Duration"

// The longest wait a `Retry-After` is read as: a century, beyond any retry budget (a cooldown caps
// it far lower), yet small enough that the duration stays finite and formattable, and that now plus
// it is still a date, whatever was sent.
const maxMillis = 100 * 365.25 * 24 * 60 * 60 * 1000

const millis = (value: number): Duration.Duration =>
  Duration.millis(Math.min(maxMillis, Math.max(0, Math.round(value))))

/**
 * Parses a `Retry-After` header value: delay-seconds or an HTTP date, relative to `now` in epoch
 * milliseconds. A date in the past is a zero delay; anything else unreadable is `undefined`.
 *
 * @since 0.4.0
 * @category constructors
 */
export const parse = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return millis(Number(trimmed) * 1000)
  // An HTTP date (IMF-fixdate or the obsolete RFC 850 and asctime forms) starts with a day name;
  // checking that keeps `Date.parse` from reading "-1" or "1.5" as a year.
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined
  // HTTP dates are GMT; the asctime form does not say so, and `Date.parse` would read it as local time.
  const at = Date.parse(/(?:GMT|UTC|Z)$/i.test(trimmed) ? trimmed : `${trimmed} GMT`)
  if (Number.isNaN(at)) return undefined
  return millis(at - now)
}
