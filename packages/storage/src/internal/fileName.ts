import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"

// Kept as is: lower-case letters, digits, `_` and `-`. Everything else, upper-case letters included
// (case-insensitive file systems), is `%` and four upper-case hex digits per UTF-16 code unit, so any
// string (lone surrogates too) has exactly one name, and no name can be `.`, `..`, hidden, or hold a
// separator.
const plain = /^[a-z0-9_-]$/

// File names stay well under the usual 255-byte limit, suffixes (`.tmp-…`, `.corrupt-…`) included.
const maxEncoded = 160

/** @internal */
export const encodeKey = (key: string): string => {
  let out = ""
  for (let i = 0; i < key.length; i++) {
    const c = key[i]
    out += plain.test(c) ? c : "%" + key.charCodeAt(i).toString(16).toUpperCase().padStart(4, "0")
  }
  return out
}

/** @internal */
export const decodeKey = (encoded: string): string | undefined => {
  let out = ""
  let i = 0
  while (i < encoded.length) {
    const c = encoded[i]
    if (c === "%") {
      const hex = encoded.slice(i + 1, i + 5)
      if (!/^[0-9A-F]{4}$/.test(hex)) return undefined
      out += String.fromCharCode(parseInt(hex, 16))
      i += 5
    } else if (plain.test(c)) {
      out += c
      i += 1
    } else {
      return undefined
    }
  }
  return out
}

/** @internal */
export const tokenSuffix = ".json"

/** @internal */
export const readablePrefix = "key-"

/** @internal */
export const hashedPrefix = "sha256-"

/**
 * The base name of a key's files: `key-<encoded>` when short enough, else `sha256-<hash of the
 * encoding>` (the token file then carries the key, which `keys` reads back).
 *
 * @internal
 */
export const baseName = (key: string): Effect.Effect<string> => {
  const encoded = encodeKey(key)
  if (encoded.length <= maxEncoded) return Effect.succeed(readablePrefix + encoded)
  return Effect.map(
    Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(encoded))),
    (digest) => hashedPrefix + Encoding.encodeHex(new Uint8Array(digest))
  )
}

/**
 * Whether a directory entry is a token file, and the key its name spells when it spells one
 * (`null` for hashed names, whose key is inside the file).
 *
 * @internal
 */
export const parseTokenFileName = (name: string): { readonly key: string | null } | undefined => {
  if (!name.endsWith(tokenSuffix)) return undefined
  const base = name.slice(0, -tokenSuffix.length)
  if (base.startsWith(readablePrefix)) {
    const key = decodeKey(base.slice(readablePrefix.length))
    return key === undefined ? undefined : { key }
  }
  if (base.startsWith(hashedPrefix) && /^[0-9a-f]{64}$/.test(base.slice(hashedPrefix.length))) return { key: null }
  return undefined
}
