/**
 * The harness's life: the HTTP server on 127.0.0.1 (closed with the scope), the provider built from
 * the configuration (built again when its signing key rotates), the request routing around it, its
 * counters, and the rate limiter in front of the token endpoint.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import Provider from "oidc-provider"
import type { KoaContextWithOIDC } from "oidc-provider"
import * as Adapter from "./adapter.js"
import * as Configuration from "./configuration.js"
import * as Keys from "./keys.js"
import * as Routes from "./routes.js"

/** @internal */
export interface Counters {
  readonly tokenRequests: Record<string, number>
  readonly grantErrors: Record<string, number>
  resourceRequests: number
  revocationRequests: number
  introspectionRequests: number
}

/**
 * A started harness.
 *
 * @internal
 */
export interface Harness {
  readonly issuer: string
  readonly redirectUri: string
  readonly store: Adapter.Store
  readonly counters: Counters
  readonly secrets: Configuration.Secrets
  readonly clientKey: { readonly privateJwk: string; readonly privatePem: string }
  readonly rateLimit: (requests: number, retryAfter: number) => void
  readonly rotateSigningKey: Effect.Effect<void>
}

const listen = (port: number, handler: Http.RequestListener): Effect.Effect<Http.Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handler)
      server.once("error", (cause) => resume(Effect.die(cause)))
      server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )

const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

const observe = (provider: Provider, counters: Counters): void => {
  provider.on("grant.success", (ctx: KoaContextWithOIDC) => {
    increment(counters.tokenRequests, String(ctx.oidc.params?.grant_type ?? "unknown"))
  })
  provider.on("grant.error", (_ctx: KoaContextWithOIDC, error: { readonly error?: string }) => {
    increment(counters.grantErrors, error.error ?? "unknown")
  })
  // A server error is not reported as `grant.error`, even on the token endpoint.
  provider.on("server_error", (ctx: KoaContextWithOIDC) => {
    if (ctx.oidc?.route === "token") increment(counters.grantErrors, "server_error")
  })
}

/**
 * Starts the server on 127.0.0.1 (`port` 0 for a random free one) with a provider configured from
 * `settings`; it closes with the scope.
 *
 * @internal
 */
export const start = (
  settings: Configuration.Settings & {
    readonly port: number
    readonly clientSecret: string | undefined
  }
): Effect.Effect<Harness, never, Scope.Scope> =>
  Effect.gen(function*() {
    let jwks = yield* Effect.promise(Keys.signingKeys)
    const clientKey = yield* Effect.promise(Keys.clientSigningKey)
    const cookieKey = Keys.randomHex(32)
    const secrets: Configuration.Secrets = {
      basic: settings.clientSecret ?? Keys.randomHex(24),
      post: settings.clientSecret ?? Keys.randomHex(24),
      secretJwt: Keys.randomHex(32),
      clientJwk: clientKey.publicJwk
    }

    let route: Http.RequestListener = (_req, res) => {
      res.statusCode = 503
      res.end()
    }
    const server = yield* listen(settings.port, (req, res) => route(req, res))
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const redirectUri = `${issuer}/callback`

    const store: Adapter.Store = new Map()
    const dpopNonceSecret = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const counters: Counters = {
      tokenRequests: {},
      grantErrors: {},
      resourceRequests: 0,
      revocationRequests: 0,
      introspectionRequests: 0
    }
    const build = () => {
      const provider = new Provider(
        issuer,
        Configuration.make({
          options: settings,
          jwks,
          cookieKey,
          redirectUri,
          secrets,
          dpopNonceSecret,
          adapter: Adapter.memoryAdapter(store)
        })
      )
      observe(provider, counters)
      return { provider, callback: provider.callback() }
    }
    let current = build()

    let rateLimited = { requests: 0, retryAfter: 0 }
    route = (req, res) => {
      const path = new URL(req.url ?? "/", issuer).pathname
      const fail = (cause: unknown) => {
        res.statusCode = 500
        res.end(cause instanceof Error ? cause.message : "internal error")
      }
      if (path.startsWith("/interaction/")) {
        Routes.interaction(current.provider, req, res).catch(fail)
      } else if (path === "/resource") {
        counters.resourceRequests++
        Routes.resource(current.provider, req, res).catch(fail)
      } else if (path === "/callback") {
        res.setHeader("content-type", "text/plain")
        res.end("authorization response received")
      } else if (path === Configuration.routes.token && rateLimited.requests > 0) {
        rateLimited.requests--
        increment(counters.grantErrors, "rate_limited")
        req.resume()
        res.statusCode = 429
        res.setHeader("retry-after", String(rateLimited.retryAfter))
        res.setHeader("content-type", "application/json")
        res.end(JSON.stringify({ error: "rate_limited", error_description: "too many requests" }))
      } else {
        if (path === Configuration.routes.revocation) counters.revocationRequests++
        if (path === Configuration.routes.introspection) counters.introspectionRequests++
        void current.callback(req, res)
      }
    }

    return {
      issuer,
      redirectUri,
      store,
      counters,
      secrets,
      clientKey,
      rateLimit: (requests, retryAfter) => {
        rateLimited = { requests, retryAfter }
      },
      // A new key signs from now on and is published first, beside the previous one.
      rotateSigningKey: Effect.promise(Keys.signingKeys).pipe(
        Effect.map((next) => {
          jwks = { keys: [...next.keys, ...jwks.keys] }
          current = build()
        })
      )
    }
  })
