import { afterAll } from "@effect/vitest"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import { tokenStoreSuite } from "@tokenfx/testing/TokenStoreSuite"
import * as Layers from "./utils/layers.js"
import * as Postgres from "./utils/postgres.js"
import { rawStoreSuite } from "./utils/rawStoreSuite.js"

tokenStoreSuite("file", Layers.file)
tokenStoreSuite("encrypted over file", Layers.encrypted(Layers.fileRaw))
tokenStoreSuite("KeyValueStore (memory)", Layers.keyValue)
tokenStoreSuite("SQLite", Layers.sqlite)

rawStoreSuite("file", Layers.fileRaw)
rawStoreSuite("KeyValueStore (memory)", Layers.keyValueRaw)
rawStoreSuite("SQLite", Layers.sqliteRaw)

const table = Postgres.uniqueTable("suite")

Postgres.whenAvailable("TokenStore conformance: PostgreSQL", () => {
  afterAll(() => Postgres.dropTables(table, SqlTokenStore.migrationsTable(table)))
  tokenStoreSuite("PostgreSQL", Layers.postgres(Postgres.url, table))
  rawStoreSuite("PostgreSQL", Layers.postgresRaw(Postgres.url, table))
})
