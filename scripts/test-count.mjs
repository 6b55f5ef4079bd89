// Prints vitest's JSON report as the plain closing line "N passed, M failed" (", K skipped" when any were).
// Exits 1 when the report is missing or counts no test at all, so an empty run never looks green.
//
//   node scripts/test-count.mjs .tmp/vitest.json
//   node scripts/test-count.mjs --line 20=.tmp/vitest.json --line 22=.tmp/vitest-22.json ...
//
// With --line, one line per Node.js line ("node 22: N passed, M failed"), then the total as the plain
// closing line; exits 1 when any line failed, ran no test, or has no report.
import { readFileSync } from "node:fs"

const count = (file) => {
  let report
  try {
    report = JSON.parse(readFileSync(file, "utf8"))
  } catch {
    console.error(`no test report at ${file}`)
    return { passed: 0, failed: 1, skipped: 0 }
  }
  const passed = report.numPassedTests ?? 0
  // A file that fails to load has no failed test of its own: count it, so the line never reads green.
  const failed = (report.numFailedTests ?? 0) ||
    (report.success === false ? Math.max(1, report.numFailedTestSuites ?? 0) : 0)
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
  return { passed, failed, skipped }
}
const format = ({ failed, passed, skipped }) =>
  `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`

const args = process.argv.slice(2)
const lines = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--line") {
    const [name, file] = args[++i].split("=")
    lines.push({ name, file })
  }
}
if (lines.length === 0) {
  const result = count(args[0] ?? ".tmp/vitest.json")
  console.log(format(result))
  process.exit(result.passed > 0 ? 0 : 1)
}
const total = { passed: 0, failed: 0, skipped: 0 }
let ok = true
for (const { file, name } of lines) {
  const result = count(file)
  console.log(`node ${name}: ${format(result)}`)
  if (result.passed === 0 || result.failed > 0) ok = false
  total.passed += result.passed
  total.failed += result.failed
  total.skipped += result.skipped
}
console.log(format(total))
process.exit(ok ? 0 : 1)
