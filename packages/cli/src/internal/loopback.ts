/** @internal */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** @internal */
export interface Listener {
  readonly redirectUri: string
  /**
   * Accepts redirects whose `state` is `state` from now on. Redirects with another state (a stale tab,
   * another local process guessing the port) are answered 400 and ignored.
   */
  readonly expect: (state: string) => Effect.Effect<void>
  /** The query string of the first accepted redirect. */
  readonly callback: Effect.Effect<URLSearchParams>
}

const page = (title: string, text: string) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head>` +
  `<body style="font-family: sans-serif; margin: 3em"><h1>${title}</h1><p>${text}</p></body></html>`

/**
 * A redirect listener for a native app (RFC 8252 section 7.3): an HTTP server on the loopback
 * interface (127.0.0.1, never a name that could resolve elsewhere), on a port the system chooses, for
 * as long as the scope is open.
 *
 * @internal
 */
export const listen: Effect.Effect<Listener, never, Scope.Scope> = Effect.gen(function*() {
  const received = yield* Deferred.make<URLSearchParams>()
  let expected: string | undefined
  const server = yield* Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://127.0.0.1")
        const params = url.searchParams
        res.setHeader("content-type", "text/html; charset=utf-8")
        res.setHeader("cache-control", "no-store")
        if (url.pathname !== "/callback" || (!params.has("code") && !params.has("error"))) {
          res.statusCode = 404
          res.end(page("Not found", "This is tokenfx's login listener."))
          return
        }
        if (expected === undefined || params.get("state") !== expected) {
          res.statusCode = 400
          res.end(page("Unknown login", "This redirect does not belong to the login in progress."))
          return
        }
        const failed = params.has("error")
        res.end(
          failed
            ? page("Login failed", "The authorization server refused the login. Return to the terminal.")
            : page("Login complete", "You can close this tab and return to the terminal.")
        )
        Deferred.unsafeDone(received, Effect.succeed(params))
      })
      server.once("error", (cause) => resume(Effect.die(cause)))
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
  const port = (server.address() as AddressInfo).port
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    expect: (state) =>
      Effect.sync(() => {
        expected = state
      }),
    callback: Deferred.await(received)
  }
})
