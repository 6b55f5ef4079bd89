/**
 * What token introspection (RFC 7662) says about a token: whether it is `active`, and for an active
 * token the claims the server chose to share.
 *
 * @since 0.1.0
 */
import * as Json from "@tokenfx/core/Json"
import * as Schema from "effect/Schema"

/**
 * The introspection endpoint's answer (RFC 7662 section 2.2): `active`, then optional claims, with
 * any other field the server adds kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Introspection = Schema.Struct(
  {
    active: Schema.Boolean,
    scope: Schema.optional(Schema.String),
    client_id: Schema.optional(Schema.String),
    username: Schema.optional(Schema.String),
    token_type: Schema.optional(Schema.String),
    exp: Schema.optional(Schema.Number),
    iat: Schema.optional(Schema.Number),
    nbf: Schema.optional(Schema.Number),
    sub: Schema.optional(Schema.String),
    aud: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
    iss: Schema.optional(Schema.String),
    jti: Schema.optional(Schema.String)
  },
  Json.UnknownFields
).annotations({ identifier: "Introspection" })

/**
 * A token introspection answer (RFC 7662 section 2.2), decoded.
 *
 * @since 0.1.0
 * @category models
 */
export type Introspection = typeof Introspection.Type
