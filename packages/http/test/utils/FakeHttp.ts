/**
 * A scripted authorization server behind a fake `HttpClient`: every request is recorded (with the
 * `Clock` instant it was sent at) and answered by the next reply of the script.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly form: URLSearchParams
  readonly at: number
}

export type Reply =
  | {
    readonly status: number
    readonly body?: string | object | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  }
  | { readonly _tag: "ConnectionRefused" }
  | { readonly _tag: "Never" }

export const json = (body: object, status = 200, headers: Record<string, string> = {}): Reply => ({
  status,
  body,
  headers
})

export const oauthError = (error: string, status = 400, headers: Record<string, string> = {}): Reply => ({
  status,
  body: { error },
  headers
})

export const token = (fields: Record<string, unknown> = {}): Reply =>
  json({ access_token: "at-1", token_type: "Bearer", expires_in: 3600, ...fields })

export const refused: Reply = { _tag: "ConnectionRefused" }
export const never: Reply = { _tag: "Never" }

const nullBodyStatuses = new Set([101, 103, 204, 205, 304])

const decodeBody = (body: unknown): string => {
  if (typeof body === "object" && body !== null && "_tag" in body && body._tag === "Uint8Array" && "body" in body) {
    return new TextDecoder().decode(body.body as Uint8Array)
  }
  return ""
}

export interface FakeServer {
  readonly layer: Layer.Layer<HttpClient.HttpClient>
  readonly client: HttpClient.HttpClient
  /** The requests received so far. */
  readonly requests: Array<Recorded>
}

/**
 * Answers the n-th request with `script(request, n)`, or with the n-th reply of an array (its last
 * reply repeated once the array runs out).
 */
export const make = (
  script: ReadonlyArray<Reply> | ((request: Recorded, index: number) => Reply)
): FakeServer => {
  const requests: Array<Recorded> = []
  const client = HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const body = decodeBody(request.body)
      const recorded: Recorded = {
        method: request.method,
        url: url.toString(),
        headers: { ...request.headers },
        body,
        form: new URLSearchParams(body),
        at: yield* Clock.currentTimeMillis
      }
      const index = requests.length
      requests.push(recorded)
      const reply = typeof script === "function" ? script(recorded, index) : script[Math.min(index, script.length - 1)]
      if ("_tag" in reply) {
        if (reply._tag === "Never") return yield* Effect.never
        return yield* new HttpClientError.RequestError({
          request,
          reason: "Transport",
          cause: new TypeError("fetch failed", {
            cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })
          })
        })
      }
      const text = reply.body === undefined
        ? ""
        : typeof reply.body === "string"
        ? reply.body
        : JSON.stringify(reply.body)
      return HttpClientResponse.fromWeb(
        request,
        new Response(nullBodyStatuses.has(reply.status) ? null : text, {
          status: reply.status,
          headers: {
            ...(typeof reply.body === "object" ? { "content-type": "application/json" } : {}),
            ...reply.headers
          }
        })
      )
    })
  )
  return { client, requests, layer: Layer.succeed(HttpClient.HttpClient, client) }
}
