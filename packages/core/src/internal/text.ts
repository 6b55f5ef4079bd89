/**
 * The longest text a server's free-form field (a description, a URI, an unknown code) keeps in an
 * error: enough for any honest explanation, and a 50 MiB one is not copied into errors and logs.
 *
 * @internal
 */
export const maxTextLength = 1_024

/** @internal */
export const truncatedMark = "… (truncated)"

/** @internal */
export const truncate = <T extends string | undefined>(text: T, max: number = maxTextLength): T =>
  (text !== undefined && text.length > max ? `${text.slice(0, max)}${truncatedMark}` : text) as T
