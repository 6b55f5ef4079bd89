/**
 * The stores under test, each built afresh (temporary directory, temporary SQLite file) per use.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as Path from "@effect/platform/Path"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as KeyValueTokenStore from "@tokenfx/storage/KeyValueTokenStore"
import type * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

export const NodeLayer = Layer.merge(NodeFileSystem.layer, NodePath.layer)

/** A fresh temporary directory (removed with the scope) and the path of `tokens` inside it. */
export const tempTokenDirectory = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "tokenfx-storage-" })
  return path.join(dir, "tokens")
})

export const fileRaw: Layer.Layer<RawTokenStore.RawTokenStore, TokenStore.StoreError | PlatformError.PlatformError> =
  Layer.unwrapScoped(
    Effect.map(tempTokenDirectory, (dir) => FileTokenStore.layerRaw(dir))
  ).pipe(Layer.provide(NodeLayer))

export const file: Layer.Layer<TokenStore.TokenStore, TokenStore.StoreError | PlatformError.PlatformError> = Layer
  .unwrapScoped(
    Effect.map(tempTokenDirectory, (dir) => FileTokenStore.layerFileSystem(dir))
  ).pipe(Layer.provide(NodeLayer))

export const encrypted = <E>(
  raw: Layer.Layer<RawTokenStore.RawTokenStore, E>
): Layer.Layer<TokenStore.TokenStore, E | TokenStore.StoreError> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
      return EncryptedTokenStore.layer(keyRing)
    })
  ).pipe(Layer.provide(raw))

export const keyValueRaw: Layer.Layer<RawTokenStore.RawTokenStore> = KeyValueTokenStore.layerRaw().pipe(
  Layer.provide(KeyValueStore.layerMemory)
)

export const keyValue: Layer.Layer<TokenStore.TokenStore> = KeyValueTokenStore.layerKeyValueStore().pipe(
  Layer.provide(KeyValueStore.layerMemory)
)

export const sqliteClient = Layer.unwrapScoped(
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "tokenfx-sqlite-" })
    return SqliteClient.layer({ filename: path.join(dir, "tokens.db") })
  })
).pipe(Layer.provide(NodeLayer), Layer.orDie)

export const sqlite: Layer.Layer<TokenStore.TokenStore, TokenStore.StoreError> = SqlTokenStore.layerSql().pipe(
  Layer.provide(sqliteClient)
)

export const sqliteRaw: Layer.Layer<RawTokenStore.RawTokenStore, TokenStore.StoreError> = SqlTokenStore.layerRaw().pipe(
  Layer.provide(sqliteClient)
)

export const pgClient = (url: string) => PgClient.layer({ url: Redacted.make(url) }).pipe(Layer.orDie)

export const postgres = (url: string, table: string): Layer.Layer<TokenStore.TokenStore, TokenStore.StoreError> =>
  SqlTokenStore.layerSql({ table }).pipe(Layer.provide(pgClient(url)))

export const postgresRaw = (
  url: string,
  table: string
): Layer.Layer<RawTokenStore.RawTokenStore, TokenStore.StoreError> =>
  SqlTokenStore.layerRaw({ table }).pipe(Layer.provide(pgClient(url)))
