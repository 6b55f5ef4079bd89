/**
 * Reading JSON that nobody vouches for (a server's answer, a stored file, a JWT's claims) without
 * letting it set a prototype, nest deep enough to overflow the stack, or make an error message the
 * size of the input.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * How deep arrays and objects may nest in JSON tokenfx reads. OAuth documents nest two or three
 * levels; 64 leaves room for any honest extension while keeping every walk over the value shallow.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxDepth = 64

/**
 * The names that assignment treats specially (`__proto__` sets the prototype). They are never
 * copied from untrusted JSON.
 *
 * @since 0.1.0
 * @category constants
 */
export const forbiddenKeys: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"])

/**
 * A key of an open record that is safe to copy: anything but {@link forbiddenKeys}. As the key
 * schema of a record, it makes decoding skip those members rather than assign them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SafeKey = Schema.String.pipe(
  Schema.filter((key) => !forbiddenKeys.has(key)),
  Schema.annotations({ identifier: "SafeKey" })
)

/**
 * The index signature of every open wire schema: the members nobody named, kept as they were sent,
 * except those that would set the prototype of the decoded object.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnknownFields = Schema.Record({ key: SafeKey, value: Schema.Unknown })

/**
 * Why a text is not usable JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type Problem = "empty" | "not JSON" | "too deeply nested"

/**
 * How deep a JSON text nests (arrays and objects), counted on the text without parsing it, stopping
 * as soon as it exceeds `limit`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const depthExceeds = (text: string, limit: number = maxDepth): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) {
      inString = true
    } else if (c === 91 || c === 123) {
      if (++depth > limit) return true
    } else if (c === 93 || c === 125) {
      depth--
    }
  }
  return false
}

/**
 * Whether an already parsed value nests deeper than `limit`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const valueDepthExceeds = (value: unknown, limit: number = maxDepth): boolean => {
  const walk = (u: unknown, depth: number): boolean => {
    if (typeof u !== "object" || u === null) return false
    if (depth >= limit) return true
    for (const key of Object.keys(u)) {
      if (walk((u as Record<string, unknown>)[key], depth + 1)) return true
    }
    return false
  }
  return walk(value, 0)
}

// Drops the members that would set a prototype when copied.
const reviver = (key: string, value: unknown): unknown => forbiddenKeys.has(key) ? undefined : value

/**
 * Parses untrusted JSON: an empty text, a text that is not JSON, or one nesting deeper than
 * {@link maxDepth} is a `Problem`; `__proto__`, `constructor` and `prototype` members are dropped.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string, limit: number = maxDepth): Either.Either<unknown, Problem> => {
  if (text.trim().length === 0) return Either.left("empty")
  if (depthExceeds(text, limit)) return Either.left("too deeply nested")
  try {
    return Either.right(JSON.parse(text, reviver))
  } catch {
    return Either.left("not JSON")
  }
}

/**
 * Parses untrusted JSON that must be an object; anything else is `undefined`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseObject = (text: string, limit: number = maxDepth): Record<string, unknown> | undefined => {
  const parsed = parse(text, limit)
  return Either.isRight(parsed) && typeof parsed.right === "object" && parsed.right !== null &&
      !Array.isArray(parsed.right)
    ? parsed.right as Record<string, unknown>
    : undefined
}

/**
 * The first issue of a decode failure: its path and kind, found by walking the issue tree (as deep as
 * the schema, not as the input) rather than formatting it, which renders the offending value and can
 * overflow the stack on deep input.
 *
 * @since 0.1.0
 * @category combinators
 */
export const firstIssue = (
  error: ParseResult.ParseError
): { readonly path: ReadonlyArray<PropertyKey>; readonly missing: boolean } => {
  const path: Array<PropertyKey> = []
  let issue: ParseResult.ParseIssue = error.issue
  for (let steps = 0; steps < 1_000; steps++) {
    switch (issue._tag) {
      case "Pointer":
        if (Array.isArray(issue.path)) path.push(...issue.path)
        else path.push(issue.path as PropertyKey)
        issue = issue.issue
        continue
      case "Refinement":
      case "Transformation":
        issue = issue.issue
        continue
      case "Composite": {
        const issues = issue.issues
        const next: ParseResult.ParseIssue | undefined = Array.isArray(issues) ? issues[0] : issues
        if (next === undefined) return { path, missing: false }
        issue = next
        continue
      }
      case "Missing":
        return { path, missing: true }
      default:
        return { path, missing: false }
    }
  }
  return { path, missing: false }
}
