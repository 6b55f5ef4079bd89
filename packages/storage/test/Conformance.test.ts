import { afterAll } from "@effect/vitest"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import { tokenStoreSuite } from "@tokenfx/testing/TokenStoreSuite"
import * as Layers from "./utils/layers.js"
import * as Postgres from "./utils/postgres.js"

tokenStoreSuite("file", Layers.file)
tokenStoreSuite("encrypted over file", Layers.encrypted(Layers.fileRaw))
tokenStoreSuite("KeyValueStore (memory)", Layers.keyValue)
tokenStoreSuite("SQLite", Layers.sqlite)

const table = Postgres.uniqueTable("suite")

Postgres.whenAvailable("TokenStore conformance: PostgreSQL", () => {
  afterAll(() => Postgres.dropTables(table, SqlTokenStore.migrationsTable(table)))
  tokenStoreSuite("PostgreSQL", Layers.postgres(Postgres.url, table))
})
