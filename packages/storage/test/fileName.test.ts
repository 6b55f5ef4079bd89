import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
// Internal: reached by path, since the package exports no `internal/*`.
import * as FileName from "../src/internal/fileName.js"

// Any UTF-16 string, lone surrogates included.
const anyString = FastCheck.oneof(
  FastCheck.string({ unit: "binary", maxLength: 60 }),
  FastCheck.string({ unit: FastCheck.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
  FastCheck.string({ unit: FastCheck.constantFrom("a", "A", "/", ".", "%", "-", "_", "\\", "\u0000") })
)

describe("file names", () => {
  it.prop("a key's encoding decodes back to it", [anyString], ([key]) => {
    assert.strictEqual(FileName.decodeKey(FileName.encodeKey(key)), key)
  })

  it.prop("an encoding is plain ASCII, with no separator and no dot", [anyString], ([key]) => {
    assert.match(FileName.encodeKey(key), /^[a-z0-9_%A-F-]*$/)
  })

  it.prop(
    "two keys never share a file, even on a case-insensitive file system",
    [anyString, anyString],
    ([a, b]) => {
      if (a === b) return
      assert.notStrictEqual(FileName.encodeKey(a).toLowerCase(), FileName.encodeKey(b).toLowerCase())
    }
  )

  it.effect.prop(
    "a base name is a token file name that parses back to its key, or a hash",
    [anyString],
    ([key]) =>
      Effect.gen(function*() {
        const base = yield* FileName.baseName(key)
        const parsed = FileName.parseTokenFileName(base + FileName.tokenSuffix)
        assert.isDefined(parsed)
        if (parsed!.key === null) assert.match(base, /^sha256-[0-9a-f]{64}$/)
        else assert.strictEqual(parsed!.key, key)
        assert.isUndefined(FileName.parseTokenFileName(`${base}.json.tmp-0123`))
        assert.isUndefined(FileName.parseTokenFileName(`${base}.lock`))
        assert.isUndefined(FileName.parseTokenFileName(`${base}.json.corrupt-2024`))
      })
  )

  it.effect("long keys are hashed, and distinct long keys get distinct names", () =>
    Effect.gen(function*() {
      const a = yield* FileName.baseName("x".repeat(500))
      const b = yield* FileName.baseName("x".repeat(499) + "y")
      assert.match(a, /^sha256-/)
      assert.notStrictEqual(a, b)
      assert.isAtMost(a.length, 100)
    }))
})
