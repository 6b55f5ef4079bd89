import type * as TokenEndpoint from "../TokenEndpoint.js"

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
