// Prints vitest's JSON report as the plain closing line "N passed, M failed" (", K skipped" when any were).
// Exits 1 when the report is missing or counts no test at all, so an empty run never looks green.
import { readFileSync } from "node:fs"

const file = process.argv[2] ?? ".tmp/vitest.json"
let report
try {
  report = JSON.parse(readFileSync(file, "utf8"))
} catch {
  console.log("0 passed, 1 failed")
  console.error(`no test report at ${file}`)
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
// A file that fails to load has no failed test of its own: count it, so the line never reads green.
const failed = (report.numFailedTests ?? 0) ||
  (report.success === false ? Math.max(1, report.numFailedTestSuites ?? 0) : 0)
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`)
process.exit(passed > 0 ? 0 : 1)
