import * as Json from "../Json.js"

// A claims request is a few hundred bytes; a larger one is not copied into an error.
const maxLength = 8_192

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The claims request of a claims challenge (`claims="<base64 JSON>"`, standard or URL-safe base64,
 * padded or not), decoded: the JSON text of an object, or `undefined` when it is anything else.
 *
 * @internal
 */
export const decode = (encoded: string): string | undefined => {
  if (encoded.length > maxLength * 2 || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(encoded)) return undefined
  const standard = encoded.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "")
  if (standard.length % 4 === 1) return undefined
  let text: string
  try {
    const binary = atob(standard + "=".repeat((4 - (standard.length % 4)) % 4))
    text = utf8.decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)))
  } catch {
    return undefined
  }
  return text.length <= maxLength && Json.parseObject(text) !== undefined ? text : undefined
}
