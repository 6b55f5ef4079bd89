import * as Os from "node:os"
import { defineConfig } from "vitest/config"

// One project per package; each package's vitest.config.ts merges vitest.shared.ts.
export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "examples/vitest.config.ts"],
    // The longest files mostly wait on real time (child processes, sockets), not on the CPU: two
    // workers even on two cores, where vitest's default would run every file one after another.
    maxWorkers: Math.max(2, Os.availableParallelism() - 1)
  }
})
