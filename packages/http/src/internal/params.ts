import * as Redacted from "effect/Redacted"
import type * as TokenEndpoint from "../TokenEndpoint.js"

/**
 * A form parameter's value (see `TokenEndpoint.GrantParameters`).
 *
 * @internal
 */
export type Value = TokenEndpoint.GrantParameters[string]

/**
 * The `scope`, `resource` and `audience` parameters of a request. A scope list is space-delimited
 * (RFC 6749 section 3.3); each resource is its own parameter (RFC 8707 section 2).
 *
 * @internal
 */
export const scope = (
  options: TokenEndpoint.ScopeOptions | undefined
): Record<string, string | ReadonlyArray<string> | undefined> => {
  if (options === undefined) return {}
  const scope = typeof options.scope === "string" ? options.scope : options.scope?.join(" ")
  const resource = typeof options.resource === "string" ? [options.resource] : options.resource
  return {
    scope: scope === undefined || scope.length === 0 ? undefined : scope,
    resource: resource === undefined || resource.length === 0 ? undefined : resource,
    audience: options.audience
  }
}

/**
 * The application/x-www-form-urlencoded body of a form: the one place its secrets are unwrapped.
 *
 * @internal
 */
export const formBody = (form: Readonly<Record<string, Value>>): string => {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(form)) {
    if (value === undefined) continue
    if (typeof value === "string") params.append(key, value)
    else if (Redacted.isRedacted(value)) params.append(key, Redacted.value(value))
    else for (const item of value) params.append(key, item)
  }
  return params.toString()
}

/**
 * One value as the application/x-www-form-urlencoded serializer writes it: everything but ALPHA,
 * DIGIT and `*-._` percent-encoded, a space as `+` (which `encodeURIComponent` is not quite).
 *
 * @internal
 */
export const formEncode = (value: string): string => new URLSearchParams([["", value]]).toString().slice(1)
