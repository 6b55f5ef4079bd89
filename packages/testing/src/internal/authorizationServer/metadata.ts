/**
 * Authorization server metadata (RFC 8414), also answered as OpenID Connect discovery.
 */
import type { State } from "./state.js"
import { supportedGrants, url } from "./state.js"

/** @internal */
export const document = (state: State): Record<string, unknown> => ({
  issuer: state.config.issuer,
  authorization_endpoint: url(state, "authorization"),
  token_endpoint: url(state, "token"),
  revocation_endpoint: url(state, "revocation"),
  introspection_endpoint: url(state, "introspection"),
  device_authorization_endpoint: url(state, "device_authorization"),
  grant_types_supported: supportedGrants,
  response_types_supported: ["code"],
  code_challenge_methods_supported: ["S256"],
  token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"]
})
