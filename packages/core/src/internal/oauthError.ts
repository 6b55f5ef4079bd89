import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

// Unmarked on purpose: the public error classes' declarations name what this module exports, so
// its declarations must ship (stripping them breaks every .d.ts; the module path stays closed).

/** The brand. */
export const TypeId: unique symbol = Symbol.for("@tokenfx/core/OAuthError")

export type TypeId = typeof TypeId

export type Disposition = "reauthenticate" | "configuration" | "retry" | "poll"

/**
 * The fields every protocol error carries. `retryAfter` is the server's `Retry-After`, when it sent one.
 */
export const fields = {
  description: Schema.optional(Schema.String),
  uri: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  endpoint: Schema.optional(Schema.String),
  retryAfter: Schema.optional(Schema.DurationFromSelf)
}

export const describe = (self: {
  readonly code: string
  readonly description?: string | undefined
  readonly status?: number | undefined
  readonly endpoint?: string | undefined
  readonly retryAfter?: Duration.Duration | undefined
}): string => {
  let message = self.code
  if (self.description !== undefined) message += `: ${self.description}`
  const context: Array<string> = []
  if (self.status !== undefined) context.push(`HTTP ${self.status}`)
  if (self.endpoint !== undefined) context.push(self.endpoint)
  if (self.retryAfter !== undefined) context.push(`retry after ${Duration.format(self.retryAfter)}`)
  return context.length > 0 ? `${message} (${context.join(", ")})` : message
}

/**
 * The class of the error for one OAuth error code: a `Schema.TaggedError` over `fields` (and any
 * `Extra` fields), whose instances also carry the brand, their code and their disposition.
 */
export interface ProtocolErrorClass<Self, Tag extends string, Code extends string, Extra extends Schema.Struct.Fields>
  extends
    Schema.Class<
      Self,
      { readonly _tag: Schema.tag<Tag> } & typeof fields & Extra,
      Schema.Struct.Encoded<{ readonly _tag: Schema.tag<Tag> } & typeof fields & Extra>,
      Schema.Struct.Context<typeof fields & Extra>,
      Schema.Struct.Constructor<typeof fields & Extra>,
      { readonly [TypeId]: TypeId; readonly code: Code; readonly disposition: Disposition },
      Cause.YieldableError
    >
{
  readonly _tag: Tag
}

/**
 * The shape all the code classes share; `Self` comes first, as in `Schema.TaggedError`, because
 * TypeScript cannot infer it while the other parameters are inferred.
 */
export const ProtocolErrorBase =
  <Self>() =>
  <const Tag extends string, const Code extends string, Extra extends Schema.Struct.Fields = {}>(
    tag: Tag,
    code: Code,
    disposition: Disposition,
    extra?: Extra
  ): ProtocolErrorClass<Self, Tag, Code, Extra> => {
    class Base extends Schema.TaggedError<Base>(`@tokenfx/core/${tag}`)(tag, { ...fields, ...extra }) {
      readonly [TypeId]: TypeId = TypeId
      readonly code: Code = code
      readonly disposition: Disposition = disposition
      override get message(): string {
        return describe(this)
      }
    }
    return Base as any
  }
