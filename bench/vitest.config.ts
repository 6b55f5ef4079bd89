import { defineConfig } from "vitest/config"

// Benchmarks only: `pnpm bench`. Speed is measured here, never in timed tests.
export default defineConfig({ test: { benchmark: { include: ["bench/**/*.bench.ts"] } } })
