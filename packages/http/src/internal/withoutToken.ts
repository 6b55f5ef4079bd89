/**
 * Copies of what a wrapped client returns, without the token. What the wrapped client returns
 * carries the request as sent, token included, and @effect/platform redacts its headers only inside
 * a fiber (not when a response or an error is stringified or printed directly): the user receives
 * copies whose request has no `Authorization`.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"

/** The request as sent, without its `Authorization` header. @internal */
export const request = (sent: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.make(sent.method)(sent.url, {
    headers: Headers.remove(sent.headers, "authorization"),
    urlParams: sent.urlParams,
    hash: Option.getOrUndefined(sent.hash),
    body: sent.body
  })

// The response as received, but for its `request` (and its renderings): reading the body still goes
// to the one underneath. One class, so that every response has the same shape, and the copy of the
// request made only when asked for: most callers read the status and the body.
class Response implements HttpClientResponse.HttpClientResponse {
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  // Private for real: the original's request carries the token.
  readonly #original: HttpClientResponse.HttpClientResponse
  #request: HttpClientRequest.HttpClientRequest | undefined = undefined
  constructor(original: HttpClientResponse.HttpClientResponse) {
    this.#original = original
  }

  get request() {
    return this.#request ??= request(this.#original.request)
  }
  get status() {
    return this.#original.status
  }
  get headers() {
    return this.#original.headers
  }
  get cookies() {
    return this.#original.cookies
  }
  get remoteAddress() {
    return this.#original.remoteAddress
  }
  get formData() {
    return this.#original.formData
  }
  get text() {
    return this.#original.text
  }
  get json() {
    return this.#original.json
  }
  get urlParamsBody() {
    return this.#original.urlParamsBody
  }
  get arrayBuffer() {
    return this.#original.arrayBuffer
  }
  get stream() {
    return this.#original.stream
  }
  toJSON() {
    return { ...(this.#original.toJSON() as object), request: this.request.toJSON() }
  }
  toString() {
    return Inspectable.format(this.toJSON())
  }
  [Inspectable.NodeInspectSymbol]() {
    return this.toJSON()
  }
}

/** @internal */
export const response = (received: HttpClientResponse.HttpClientResponse): HttpClientResponse.HttpClientResponse =>
  new Response(received)

/** A wrapped client's error, its request (and response) copied without the token. @internal */
export const error = <E>(error: E): E => {
  if (!HttpClientError.isHttpClientError(error)) return error
  const copy = request(error.request)
  return (error._tag === "RequestError"
    ? new HttpClientError.RequestError({ ...error, request: copy })
    : new HttpClientError.ResponseError({ ...error, request: copy, response: response(error.response) })) as E
}
