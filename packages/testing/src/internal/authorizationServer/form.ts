/**
 * The body of a form request (`application/x-www-form-urlencoded`), whatever shape `HttpClientRequest`
 * gave it, with repeated parameters marked (RFC 6749 section 3.2: parameters must not repeat).
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** @internal */
export type Form = ReadonlyMap<string, string>

/**
 * The name of a repeated parameter, when one is.
 *
 * @internal
 */
export const repeated = (form: Form): string | undefined => form.get(duplicateKey)

const duplicateKey = "\u0000duplicate"

const decode = (text: string): Form => {
  const form = new Map<string, string>()
  for (const [key, value] of new URLSearchParams(text)) {
    if (form.has(key)) form.set(duplicateKey, key)
    else form.set(key, value)
  }
  return form
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0))
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/**
 * The body of a form request, or `undefined` when the body is not a form.
 *
 * @internal
 */
export const read = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<Form | undefined> => {
  const body = request.body
  const contentType = (("contentType" in body ? body.contentType : undefined) ?? request.headers["content-type"] ?? "")
    .toLowerCase()
  const isForm = contentType.startsWith("application/x-www-form-urlencoded")
  switch (body._tag) {
    case "Empty":
      return Effect.succeed(request.method === "POST" ? undefined : new Map())
    case "Uint8Array":
      return Effect.succeed(isForm ? decode(new TextDecoder().decode(body.body)) : undefined)
    case "Raw":
      if (body.body instanceof URLSearchParams) return Effect.succeed(decode(body.body.toString()))
      if (typeof body.body === "string" && isForm) return Effect.succeed(decode(body.body))
      if (body.body instanceof Uint8Array && isForm) return Effect.succeed(decode(new TextDecoder().decode(body.body)))
      return Effect.succeed(undefined)
    case "FormData":
      return Effect.succeed(undefined)
    case "Stream":
      if (!isForm) return Effect.succeed(undefined)
      return body.stream.pipe(
        Stream.runCollect,
        Effect.map((chunks) => decode(new TextDecoder().decode(concat(Chunk.toReadonlyArray(chunks))))),
        Effect.orElseSucceed(() => undefined)
      )
  }
}
