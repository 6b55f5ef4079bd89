/** @internal */

// Text from a server or a file (an error description, a profile name, a scope) printed as it is could
// drive the terminal: escape sequences retitle or clear it, a CR or a line break rewrites or forges a line,
// bidi overrides reorder what is read, zero-width characters hide. Control and format characters and line
// separators are shown as `\uXXXX` escapes instead, at the point where tokenfx prints.
const unsafe = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu

// UTF-16 code units, so that the escape is also valid inside a JSON string.
const escape = (char: string): string => {
  let escaped = ""
  for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`
  return escaped
}

/**
 * `text` on one line, with nothing a terminal would act on.
 *
 * @internal
 */
export const text = (text: string): string => text.replace(unsafe, escape)

/**
 * `value` as indented JSON, with nothing a terminal would act on: `JSON.stringify` escapes C0 controls
 * in strings, not C1 controls, format characters or line separators. The result decodes to `value`.
 *
 * @internal
 */
export const json = (value: unknown): string => JSON.stringify(value, null, 2).split("\n").map(text).join("\n")

const anyUnsafe = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u

/**
 * Whether `text` holds nothing a terminal would act on.
 *
 * @internal
 */
export const isPrintable = (text: string): boolean => !anyUnsafe.test(text)
