import type * as ParseResult from "effect/ParseResult"
import * as Json from "../Json.js"

// What each field of a token endpoint's answer should hold; other answers share these names.
const expected: Record<string, string> = {
  access_token: "a non-empty string of printable ASCII",
  token_type: "a string",
  expires_in: "a non-negative number of seconds",
  refresh_token: "a string of printable ASCII",
  scope: "a space-delimited string",
  id_token: "a string",
  refresh_token_expires_in: "a non-negative number of seconds",
  refresh_expires_in: "a non-negative number of seconds"
}

/**
 * Describes a decode failure by the path of its first issue, never by the value it held (nor by
 * formatting it, which would render the value, however large or deep).
 *
 * @internal
 */
export const describe = (
  error: ParseResult.ParseError
): { readonly field: string | undefined; readonly reason: string } => {
  const first = Json.firstIssue(error)
  if (first.path.length === 0) return { field: undefined, reason: "expected a JSON object" }
  const field = first.path.map(String).join(".")
  if (first.missing) return { field, reason: "is missing" }
  const top = String(first.path[0])
  return { field, reason: `expected ${expected[top] ?? "a valid value"}` }
}
