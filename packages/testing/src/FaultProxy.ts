/**
 * A fault-injecting HTTP proxy on 127.0.0.1, put in front of a real server (the oidc-provider
 * harness) so that integration tests meet what real networks and providers do: error answers with
 * `Retry-After`, HTML error pages, malformed JSON, answers slower than a client's timeout, reset
 * connections, oversized bodies. Faults are queued per path prefix and consumed in order; everything
 * else passes through untouched.
 *
 * Node-only (`node:http`): import it as `@tokenfx/testing/FaultProxy`.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/**
 * What the proxy does with one request instead of passing it through untouched.
 *
 * - `Answer`: answers itself (a 503 with `Retry-After`, an HTML 500, a 200 with broken JSON...).
 * - `Delay`: holds the request for `millis` (real time) before passing it on, as a congested network
 *   or a queueing load balancer does; a client that gave up meanwhile is never passed on, so the
 *   server does not act on a request whose answer nobody will read.
 * - `Reset`: destroys the connection without an answer.
 * - `Oversized`: a 200 whose body is `bytes` long.
 *
 * @since 0.2.0
 * @category models
 */
export type Fault =
  | {
    readonly _tag: "Answer"
    readonly status: number
    readonly body?: string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  }
  | { readonly _tag: "Delay"; readonly millis: number }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "Oversized"; readonly bytes: number }

/**
 * What the proxy saw: requests by path, and how many met a fault.
 *
 * @since 0.2.0
 * @category models
 */
export interface Stats {
  /** Requests received, by path. */
  readonly requests: Readonly<Record<string, number>>
  /** Requests answered by a fault. */
  readonly faults: number
}

/**
 * A running proxy: its origin, URLs through it, the fault queue and its counters.
 *
 * @since 0.2.0
 * @category models
 */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string
  /** The proxy's URL for a URL of the target: same path and query, the proxy's origin. */
  readonly url: (target: string) => string
  /** The next `count` requests whose path starts with `pathPrefix` meet `fault`. */
  readonly failNext: (pathPrefix: string, count: number, fault: Fault) => Effect.Effect<void>
  /** Every request whose path starts with `pathPrefix` meets `fault` until `clear`. */
  readonly failAll: (pathPrefix: string, fault: Fault) => Effect.Effect<void>
  /** Removes every queued and standing fault. */
  readonly clear: Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
}

/**
 * The running proxy as a service.
 *
 * @since 0.2.0
 * @category tags
 */
export class FaultProxyService extends Context.Tag("@tokenfx/testing/FaultProxy")<FaultProxyService, FaultProxy>() {}

interface Queued {
  readonly prefix: string
  remaining: number
  readonly fault: Fault
}

const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"])

/**
 * Starts a proxy to `target` (an origin such as the harness's issuer origin); it stops with the scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (target: string): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const upstream = new URL(target)
    const queued: Array<Queued> = []
    const standing: Array<{ readonly prefix: string; readonly fault: Fault }> = []
    const requests: Record<string, number> = {}
    let faults = 0

    const take = (path: string): Fault | undefined => {
      const index = queued.findIndex((entry) => path.startsWith(entry.prefix))
      if (index >= 0) {
        const entry = queued[index]
        if (entry !== undefined) {
          entry.remaining--
          if (entry.remaining <= 0) queued.splice(index, 1)
          return entry.fault
        }
      }
      return standing.find((entry) => path.startsWith(entry.prefix))?.fault
    }

    const forward = (request: Http.IncomingMessage, body: Buffer, response: Http.ServerResponse) => {
      const headers: Record<string, string | Array<string>> = {}
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined && !hopByHop.has(name)) headers[name] = value
      }
      headers["content-length"] = String(body.length)
      const outgoing = Http.request({
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers
      }, (answer) => {
        const chunks: Array<Buffer> = []
        answer.on("data", (chunk: Buffer) => chunks.push(chunk))
        answer.on("end", () => {
          if (response.destroyed) return
          const out: Record<string, string | Array<string>> = {}
          for (const [name, value] of Object.entries(answer.headers)) {
            if (value !== undefined && !hopByHop.has(name)) out[name] = value
          }
          response.writeHead(answer.statusCode ?? 502, out)
          response.end(Buffer.concat(chunks))
        })
      })
      outgoing.on("error", () => response.destroy())
      outgoing.end(body)
    }

    const server = Http.createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const path = new URL(request.url ?? "/", "http://proxy").pathname
        requests[path] = (requests[path] ?? 0) + 1
        const fault = take(path)
        if (fault !== undefined) faults++
        const body = Buffer.concat(chunks)
        switch (fault?._tag) {
          case undefined:
            return forward(request, body, response)
          case "Delay":
            return void Effect.runFork(
              Effect.sleep(fault.millis).pipe(
                Effect.andThen(() => {
                  if (!response.destroyed && !request.socket.destroyed) forward(request, body, response)
                })
              )
            )
          case "Reset":
            return request.socket.destroy()
          case "Oversized": {
            response.writeHead(200, { "content-type": "application/json" })
            return response.end(Buffer.alloc(fault.bytes, " "))
          }
          case "Answer": {
            response.writeHead(fault.status, { "content-type": "application/json", ...fault.headers })
            return response.end(fault.body ?? "")
          }
        }
      })
    })
    yield* Effect.async<void>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.void))
    })
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
    )
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    return {
      origin,
      url: (url) => {
        const parsed = new URL(url)
        return `${origin}${parsed.pathname}${parsed.search}`
      },
      failNext: (prefix, count, fault) =>
        Effect.sync(() => {
          if (count > 0) queued.push({ prefix, remaining: count, fault })
        }),
      failAll: (prefix, fault) => Effect.sync(() => void standing.push({ prefix, fault })),
      clear: Effect.sync(() => {
        queued.length = 0
        standing.length = 0
      }),
      stats: Effect.sync(() => ({ requests: { ...requests }, faults }))
    }
  })

/**
 * A proxy in front of `target`, for the layer's lifetime.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (target: string): Layer.Layer<FaultProxyService> => Layer.scoped(FaultProxyService, make(target))
