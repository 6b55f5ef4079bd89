/**
 * An application instance (a Node process) that ends right after a refresh whose write failed: the
 * server has rotated the refresh token (oidc-provider, with whole-grant revocation on reuse), the store
 * still holds the consumed one, and the new token lives only in the process, its write retried in the
 * background. Ending, the manager waits for that write (its `closeGrace`): once the store takes writes
 * again, the rotated token is stored, the process exits, and the grant lives on for the next process.
 * Before, the process exited at once and the next refresh presented the consumed token: the grant was
 * revoked.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { afterAll, assert, layer } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { spawn, within } from "./utils/children.js"
import * as Layers from "./utils/layers.js"
import { login } from "./utils/login.js"

const key = "alice@example.com"
const count = (record: Readonly<Record<string, number>>, name: string) => record[name] ?? 0
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-xpc-"))
afterAll(() => Fs.rmSync(work, { recursive: true, force: true }))

const closed = (spec: string, storeLayer: Layer.Layer<TokenStore.TokenStore, unknown>) =>
  Effect.gen(function*() {
    const { client, initial, server, store } = yield* login(key)
    const before = yield* server.stats
    const flag = Path.join(work, `write-fault-${Math.random().toString(36).slice(2)}`)
    Fs.writeFileSync(flag, "")
    const child = spawn({
      TOKENFX_XP_STORE: spec,
      TOKENFX_XP_KEY: key,
      TOKENFX_XP_TOKEN_ENDPOINT: server.tokenEndpoint,
      TOKENFX_XP_RESOURCE: server.resourceUrl,
      TOKENFX_XP_CLIENT_ID: client.clientId,
      TOKENFX_XP_CLIENT_SECRET: Redacted.value(client.clientSecret!),
      TOKENFX_XP_LEASE_TTL: "3000",
      TOKENFX_XP_WRITE_FAULT: flag,
      TOKENFX_XP_ROLE: "closer"
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => child.process.kill("SIGKILL")))

    const outcome = yield* Effect.promise(async () => {
      await within(child.ready, 30_000, "the child to start").catch((e) => {
        throw new Error(`${e.message}\n${child.stderr()}`)
      })
      // The access token (2 s) has expired: the child's `get` refreshes.
      await sleep(Math.max(0, DateTime.toEpochMillis(initial.token.expiresAt!) - Date.now()))
      child.process.stdin!.write(`${JSON.stringify({ endAt: Date.now(), hangAt: Date.now() })}\n`)
      await within(child.served, 20_000, "the refreshed token").catch((e) => {
        throw new Error(`${e.message}\n${child.stderr()}`)
      })
      // The program has ended; the manager is closing, its write failing.
      await sleep(1_000)
      const waited = child.process.exitCode === null
      Fs.rmSync(flag, { force: true })
      const code = await within(child.exited, 20_000, "the child to exit")
      return { waited, code }
    })

    assert.isTrue(outcome.waited, "the process ended without waiting for the refreshed token's write")
    assert.strictEqual(outcome.code, 0, child.stderr())
    const stored = Option.getOrThrow(yield* store.get(key))
    assert.isFalse(Token.sameRefreshToken(stored.token, initial.token), "the rotated refresh token was lost")
    // The grant lives: the stored refresh token is the current one.
    const endpoint = yield* TokenEndpoint.make({
      tokenEndpoint: server.tokenEndpoint,
      clientId: client.clientId,
      clientSecret: client.clientSecret
    })
    const next = yield* Effect.either(endpoint.refresh(stored.token))
    assert.isTrue(next._tag === "Right", next._tag === "Left" ? next.left._tag : "")
    const after = yield* server.stats
    assert.strictEqual(count(after.grantErrors, "invalid_grant") - count(before.grantErrors, "invalid_grant"), 0)
    assert.strictEqual(count(after.tokenRequests, "refresh_token") - count(before.tokenRequests, "refresh_token"), 2)
  }).pipe(Effect.provide(Layer.merge(storeLayer, NodeHttpClient.layerUndici)))

layer(OidcProvider.layer({ accessTokenTtl: 2 }), { excludeTestServices: true })(
  "a process closed while its write fails",
  (it) => {
    it.scoped("file store: the rotated refresh token is stored before the process exits", () => {
      const dir = Path.join(work, "tokens")
      return closed(`file:${dir}`, FileTokenStore.layerFileSystem(dir).pipe(Layer.provide(Layers.NodeLayer)))
    }, 60_000)

    it.scoped("SQLite: the rotated refresh token is stored before the process exits", () => {
      const file = Path.join(work, "tokens.db")
      return closed(
        `sqlite:${file}`,
        SqlTokenStore.layerSql().pipe(Layer.provide(SqliteClient.layer({ filename: file })))
      )
    }, 60_000)
  }
)
