/**
 * A vitest reporter for CI: names the tests and test files still running long after they should
 * have ended, and ends the run when one is stuck.
 *
 * vitest's own timeouts cannot fire in a worker whose event loop is blocked, and a stuck file only
 * shows as silence in the default reporter. This reporter runs in the main process, so it still sees
 * time pass. Every 30 s it prints each test running past its own timeout, and each file that reported
 * no test starting or ending for a minute. A test still running `TOKENFX_TEST_STALL_GRACE_SECONDS`
 * (default 120) past its timeout, or a file silent that long past the hook timeout, ends the run with
 * status 1, rather than let CI wait for its global time limit.
 */
import * as Path from "node:path"
import type { Reporter, TestCase, TestModule } from "vitest/node"

const graceMillis = Number(process.env["TOKENFX_TEST_STALL_GRACE_SECONDS"] ?? "120") * 1000
const silentMillis = 60_000

interface Running {
  readonly label: string
  readonly since: number
  // How long it may run before it is reported, and before it counts as stuck.
  readonly reportAfter: number
  readonly stuckAfter: number
}

const label = (module: TestModule): string =>
  `${module.project.name} ${Path.relative(process.cwd(), module.moduleId)}`

export default class Watchdog implements Reporter {
  private readonly modules = new Map<string, Running>()
  private readonly cases = new Map<string, Running>()
  private timer: ReturnType<typeof setInterval> | undefined

  onTestRunStart() {
    this.timer = setInterval(() => this.check(), Math.min(30_000, graceMillis / 4))
    this.timer.unref()
  }

  onTestModuleStart(module: TestModule) {
    this.touch(module)
  }

  onTestModuleEnd(module: TestModule) {
    this.modules.delete(module.id)
  }

  onTestCaseReady(test: TestCase) {
    const timeout = test.task.timeout ?? test.project.config.testTimeout
    this.cases.set(test.id, {
      label: `${label(test.module)} > ${test.fullName}`,
      since: Date.now(),
      reportAfter: timeout,
      stuckAfter: timeout + graceMillis
    })
    this.touch(test.module)
  }

  onTestCaseResult(test: TestCase) {
    this.cases.delete(test.id)
    this.touch(test.module)
  }

  onTestRunEnd() {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  // A file counts as silent from its last reported start or end of a test, not from its own start.
  private touch(module: TestModule) {
    this.modules.set(module.id, {
      label: label(module),
      since: Date.now(),
      reportAfter: silentMillis,
      stuckAfter: module.project.config.hookTimeout + graceMillis
    })
  }

  private check() {
    const now = Date.now()
    // A file with a test running stands behind that test; a file without one stands for itself.
    const busy = new Set(Array.from(this.cases.values(), (c) => c.label.split(" > ")[0]))
    const running = [...this.cases.values(), ...Array.from(this.modules.values()).filter((m) => !busy.has(m.label))]
      .map((r) => ({ ...r, elapsed: now - r.since }))
      .filter((r) => r.elapsed >= r.reportAfter)
    for (const r of running) {
      console.error(`[watchdog] still running after ${Math.round(r.elapsed / 1000)} s: ${r.label}`)
    }
    const stuck = running.find((r) => r.elapsed >= r.stuckAfter)
    if (stuck !== undefined) {
      console.error(`[watchdog] stuck for ${Math.round(stuck.elapsed / 1000)} s; ending the run: ${stuck.label}`)
      process.exit(1)
    }
  }
}
