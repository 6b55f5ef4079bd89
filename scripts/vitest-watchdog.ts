/**
 * A vitest reporter for CI: names the test files and tests that are still running long after they
 * should have ended, and ends the run when one is stuck.
 *
 * vitest's own timeouts cannot fire in a worker whose event loop is blocked, and a stuck file only
 * shows as silence in the default reporter. This reporter runs in the main process, so it still
 * sees time pass: every 30 s it prints each test running for more than a minute, and each file that
 * reported no test starting or ending for as long; and after `TOKENFX_TEST_STALL_SECONDS` (default 300) it prints
 * the culprits and exits with status 1 rather than let CI wait for its global time limit.
 */
import * as Path from "node:path"
import type { Reporter, TestCase, TestModule } from "vitest/node"

const stallSeconds = Number(process.env["TOKENFX_TEST_STALL_SECONDS"] ?? "300")
const reportAfterSeconds = Math.min(60, stallSeconds / 2)

interface Running {
  readonly label: string
  readonly since: number
}

const label = (module: TestModule): string =>
  `${module.project.name} ${Path.relative(process.cwd(), module.moduleId)}`

export default class Watchdog implements Reporter {
  private readonly modules = new Map<string, Running>()
  private readonly cases = new Map<string, Running>()
  private timer: ReturnType<typeof setInterval> | undefined

  onTestRunStart() {
    this.timer = setInterval(() => this.check(), Math.min(30, stallSeconds / 4) * 1000)
    this.timer.unref()
  }

  onTestModuleStart(module: TestModule) {
    this.modules.set(module.id, { label: label(module), since: Date.now() })
  }

  onTestModuleEnd(module: TestModule) {
    this.modules.delete(module.id)
  }

  onTestCaseReady(test: TestCase) {
    this.cases.set(test.id, { label: `${label(test.module)} > ${test.fullName}`, since: Date.now() })
    this.touch(test.module)
  }

  onTestCaseResult(test: TestCase) {
    this.cases.delete(test.id)
    this.touch(test.module)
  }

  // A file counts as idle from its last reported start or end of a test, not from its own start.
  private touch(module: TestModule) {
    if (this.modules.has(module.id)) this.modules.set(module.id, { label: label(module), since: Date.now() })
  }

  onTestRunEnd() {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  private check() {
    const now = Date.now()
    // A file with a test running stands behind that test; a file without one stands for itself.
    const busyModules = new Set(Array.from(this.cases.values(), (c) => c.label.split(" > ")[0]))
    const running = [
      ...this.cases.values(),
      ...Array.from(this.modules.values()).filter((m) => !busyModules.has(m.label))
    ].map((r) => ({ label: r.label, seconds: Math.round((now - r.since) / 1000) }))
      .filter((r) => r.seconds >= reportAfterSeconds)
      .sort((a, b) => b.seconds - a.seconds)
    for (const r of running) console.error(`[watchdog] still running after ${r.seconds} s: ${r.label}`)
    const stuck = running.filter((r) => r.seconds >= stallSeconds)
    if (stuck.length > 0) {
      console.error(`[watchdog] stuck for more than ${stallSeconds} s; ending the run: ${stuck[0].label}`)
      process.exit(1)
    }
  }
}
