import * as UrlParams from "@effect/platform/UrlParams"
import * as Redacted from "effect/Redacted"
import type * as TokenRequest from "../TokenRequest.js"

// application/x-www-form-urlencoded, the body of every request to an authorization server.

/**
 * A form field's value: secret values stay `Redacted` until the body is encoded.
 *
 * @internal
 */
export type Value = TokenRequest.GrantParameters[string]

/**
 * A form's fields.
 *
 * @internal
 */
export type Form = Readonly<Record<string, Value>>

/**
 * The fields of a form as the platform's `UrlParams`: the one place its secrets are unwrapped.
 * Absent values are left out; an array repeats the field.
 *
 * @internal
 */
export const toUrlParams = (form: Form): UrlParams.UrlParams =>
  UrlParams.fromInput(
    Object.entries(form).flatMap(([key, value]): Array<[string, string]> =>
      value === undefined
        ? []
        : typeof value === "string"
        ? [[key, value]]
        : Redacted.isRedacted(value)
        ? [[key, Redacted.value(value)]]
        : value.map((item) => [key, item])
    )
  )

/**
 * One value as the application/x-www-form-urlencoded serializer writes it: everything but ALPHA,
 * DIGIT and `*-._` percent-encoded, a space as `+` (which `encodeURIComponent` is not quite).
 *
 * @internal
 */
export const encodeValue = (value: string): string => new URLSearchParams([["", value]]).toString().slice(1)
