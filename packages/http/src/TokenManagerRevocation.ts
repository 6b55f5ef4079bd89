/**
 * What `TokenManager.revoke` is asked and what it answers. `TokenManager.Revocation` and
 * `TokenManager.RevokeOptions` are the same types; they live here so that the implementation names them
 * without importing `TokenManager`.
 *
 * @since 0.5.0
 */
import * as Data from "effect/Data"
import type * as TokenEndpointError from "./TokenEndpointError.js"
import type * as TokenManagerEvent from "./TokenManagerEvent.js"

/**
 * What `revoke` did. The local token is always removed (else `revoke` fails with the store's error);
 * the tag says what the server did.
 *
 * - `Revoked`: the server revoked it.
 * - `Unsupported`: the source has no revocation (no RFC 7009 endpoint): revoke the grant at the
 *   provider by other means if it matters.
 * - `Failed`: the server could not be told (`error`); the grant may still be live there.
 * - `NoToken`: nothing was stored for the key.
 *
 * @since 0.5.0
 * @category models
 */
export type Revocation = Data.TaggedEnum<{
  Revoked: {}
  Unsupported: {}
  Failed: { readonly error: TokenEndpointError.RevocationError }
  NoToken: {}
}>

/**
 * Constructors and matchers of `Revocation`.
 *
 * @since 0.5.0
 * @category models
 */
export const Revocation = Data.taggedEnum<Revocation>()

/**
 * Options of `revoke`. `reason`: a `RevocationReason`; other text counts as `"other"` and is not kept
 * (it could hold anything). Default: `"unspecified"`.
 *
 * @since 0.5.0
 * @category models
 */
export interface RevokeOptions {
  readonly reason?: TokenManagerEvent.RevocationReason | (string & {}) | undefined
}
