/**
 * Each library wired the way its documentation shows, behind one small interface: a client per
 * grant (or per key) made from a token the server issued, `getToken` (the library's own call for
 * "a valid access token", refreshing when it must) and `get` (an authorized GET, body read).
 */
import { OAuth2Client as BadgatewayClient, OAuth2Fetch } from "@badgateway/oauth2-client"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerPromise from "@tokenfx/http/TokenManagerPromise"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { OAuth2Client as GoogleClient } from "google-auth-library"
import * as openid from "openid-client"
import { AuthorizationCode } from "simple-oauth2"
import { CLIENT_ID, CLIENT_SECRET } from "./client.js"

export interface TokenJson {
  readonly access_token: string
  readonly token_type: string
  readonly expires_in: number
  readonly refresh_token: string
}

/** `keys` tokens as the server would issue them, and the keys they belong to (`${prefix}-${i}`). */
export const keyTokens = (keys: number, prefix = "user") => {
  const tokens: Array<TokenJson> = Array.from({ length: keys }, (_, i) => ({
    access_token: `at-${i}-${Math.random().toString(36).slice(2)}`,
    token_type: "Bearer",
    expires_in: 3600,
    refresh_token: `rt-${i}-${Math.random().toString(36).slice(2)}`
  }))
  return { tokens, names: tokens.map((_, i) => `${prefix}-${i}`) }
}

export interface Client {
  /** The library's own "a valid access token" call. */
  readonly getToken: () => Promise<unknown>
  /** An authorized GET whose body is read; rejects on anything but a 200. */
  readonly get: (url: string) => Promise<void>
}

export interface Factory {
  readonly client: (token: TokenJson, key: string) => Promise<Client>
  /** A keyed library's own "the token of this key", when it has one. */
  readonly getToken?: (key: string) => Promise<unknown>
  readonly dispose: () => Promise<void>
}

export interface Peer {
  readonly name: string
  readonly version: string
  readonly make: (base: string) => Promise<Factory>
}

export { CLIENT_ID, CLIENT_SECRET }

const ok = async (response: Response) => {
  if (response.status !== 200) throw new Error(`status ${response.status}`)
  await response.arrayBuffer()
}

/** The floor: `fetch` with a token held in a variable. Never refreshes. */
export const raw: Peer = {
  name: "raw fetch",
  version: process.version,
  make: async () => ({
    client: async (token) => {
      const authorization = `Bearer ${token.access_token}`
      return {
        getToken: async () => token.access_token,
        get: async (url) => ok(await fetch(url, { headers: { authorization } }))
      }
    },
    dispose: async () => {}
  })
}

/** tokenfx: one `TokenManager` (memory store), its Promise facade, and `AuthorizedClient` for fibers. */
export const makeTokenfx = async (base: string) => {
  const layer = TokenManager.layer().pipe(
    Layer.provide(TokenStore.layerMemory),
    Layer.provide(TokenEndpoint.layer({
      tokenEndpoint: `${base}/token`,
      clientId: CLIENT_ID,
      clientSecret: Redacted.make(CLIENT_SECRET)
    })),
    Layer.provideMerge(FetchHttpClient.layer)
  )
  const runtime = ManagedRuntime.make(layer)
  const rt = await runtime.runtime()
  const manager = Context.get(rt.context, TokenManager.TokenManager)
  const http = Context.get(rt.context, HttpClient.HttpClient)
  const tokens = TokenManagerPromise.fromRuntime(rt)
  const set = (token: TokenJson, key: string) =>
    runtime.runPromise(manager.set(
      key,
      Token.make({
        access_token: Redacted.make(token.access_token),
        token_type: token.token_type,
        expires_in: token.expires_in,
        refresh_token: Redacted.make(token.refresh_token)
      }, Date.now())
    ))
  const authorized = (key: string): HttpClient.HttpClient.With<unknown> =>
    AuthorizedClient.authorize(http, manager, { key, origin: base })
  // @effect/platform alone, the token set by hand: what the HTTP client beneath tokenfx costs by itself.
  const platformOnly = (token: string): HttpClient.HttpClient.With<unknown> =>
    HttpClient.mapRequest(http, HttpClientRequest.bearerToken(token))
  return { runtime, manager, tokens, set, authorized, platformOnly }
}

export const tokenfx: Peer = {
  name: "tokenfx",
  version: "workspace",
  make: async (base) => {
    const fx = await makeTokenfx(base)
    return {
      client: async (token, key) => {
        await fx.set(token, key)
        // Made on first use, so that the keys block counts what the manager holds per key.
        let fetch: TokenManagerPromise.AuthorizedFetch | undefined
        return {
          getToken: () => fx.tokens.getToken(key),
          get: async (url) => ok(await (fetch ??= fx.tokens.authorizedFetch({ key, origin: base }))(url))
        }
      },
      getToken: fx.tokens.getToken,
      dispose: () => fx.runtime.dispose()
    }
  }
}

/** @badgateway/oauth2-client: `OAuth2Fetch` over an `OAuth2Client`, the stored token handed over as its README shows. */
export const badgateway: Peer = {
  name: "@badgateway/oauth2-client",
  version: "3.3.1",
  make: async (base) => {
    const client = new BadgatewayClient({
      server: base,
      tokenEndpoint: "/token",
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      authenticationMethod: "client_secret_post"
    })
    return {
      client: async (token) => {
        let stored = {
          accessToken: token.access_token,
          refreshToken: token.refresh_token,
          expiresAt: Date.now() + token.expires_in * 1000
        }
        const wrapper = new OAuth2Fetch({
          client,
          // An authorization-code grant: no new token without the user.
          getNewToken: () => null,
          storeToken: (next) => {
            stored = { ...next, refreshToken: next.refreshToken ?? stored.refreshToken, expiresAt: next.expiresAt! }
          },
          getStoredToken: () => stored
        })
        return { getToken: () => wrapper.getToken(), get: async (url) => ok(await wrapper.fetch(url)) }
      },
      dispose: async () => {}
    }
  }
}

/**
 * openid-client 6: a `Configuration` for the server, `refreshTokenGrant` when the held token has
 * expired and `fetchProtectedResource`, as its README shows. It keeps no token itself: the check
 * before the refresh is the application's, written here the obvious way.
 */
export const openidClient: Peer = {
  name: "openid-client",
  version: "6.9.0",
  make: async (base) => {
    const config = new openid.Configuration(
      { issuer: base, token_endpoint: `${base}/token` },
      CLIENT_ID,
      CLIENT_SECRET
    )
    openid.allowInsecureRequests(config)
    return {
      client: async (token) => {
        let held = {
          accessToken: token.access_token,
          refreshToken: token.refresh_token,
          expiresAt: Date.now() + token.expires_in * 1000
        }
        const getToken = async () => {
          if (Date.now() >= held.expiresAt) {
            const fresh = await openid.refreshTokenGrant(config, held.refreshToken)
            held = {
              accessToken: fresh.access_token,
              refreshToken: fresh.refresh_token ?? held.refreshToken,
              expiresAt: Date.now() + (fresh.expiresIn() ?? 3600) * 1000
            }
          }
          return held.accessToken
        }
        return {
          getToken,
          get: async (url) => ok(await openid.fetchProtectedResource(config, await getToken(), new URL(url), "GET"))
        }
      },
      dispose: async () => {}
    }
  }
}

/**
 * simple-oauth2 5: `createToken`, then `expired(window)` and `refresh()` as its README shows. It has
 * no request helper: the token goes into a `fetch`.
 */
export const simpleOauth2: Peer = {
  name: "simple-oauth2",
  version: "5.0.1",
  make: async (base) => {
    const client = new AuthorizationCode({
      client: { id: CLIENT_ID, secret: CLIENT_SECRET },
      auth: { tokenHost: base, tokenPath: "/token" },
      options: { authorizationMethod: "body" }
    })
    return {
      client: async (token) => {
        let accessToken = client.createToken({ ...token })
        const getToken = async () => {
          if (accessToken.expired(300)) accessToken = await accessToken.refresh()
          return accessToken.token["access_token"] as string
        }
        return {
          getToken,
          get: async (url) => ok(await fetch(url, { headers: { authorization: `Bearer ${await getToken()}` } }))
        }
      },
      dispose: async () => {}
    }
  }
}

/** google-auth-library 10: an `OAuth2Client` with `setCredentials`, `getAccessToken` and `request`. */
export const google: Peer = {
  name: "google-auth-library",
  version: "10.9.1",
  make: async (base) => ({
    client: async (token) => {
      const client = new GoogleClient({
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        endpoints: { oauth2TokenUrl: `${base}/token` }
      })
      client.setCredentials({
        access_token: token.access_token,
        refresh_token: token.refresh_token,
        token_type: "Bearer",
        expiry_date: Date.now() + token.expires_in * 1000
      })
      return {
        getToken: () => client.getAccessToken(),
        get: async (url) => {
          const response = await client.request({ url, responseType: "arraybuffer" })
          if (response.status !== 200) throw new Error(`status ${response.status}`)
        }
      }
    },
    dispose: async () => {}
  })
}

export const peers: ReadonlyArray<Peer> = [tokenfx, badgateway, openidClient, simpleOauth2, google]

export const effectLoop = (
  client: HttpClient.HttpClient.With<unknown>,
  url: string,
  requests: number,
  concurrency: number
) =>
  Effect.suspend(() => {
    let started = 0
    const one = Effect.flatMap(
      client.get(url),
      (response) => response.status === 200 ? response.arrayBuffer : Effect.dieMessage(`status ${response.status}`)
    )
    // The Promise pool's shape: `concurrency` fibers, each sending its requests one after another. (A
    // fiber forked per request would add the fork and the join of its FiberRefs to every request.)
    const worker = Effect.whileLoop({
      while: () => started < requests,
      body: () => {
        started++
        return one
      },
      step: () => {}
    })
    return Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
  })
