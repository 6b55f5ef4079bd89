import { assert, describe, it } from "@effect/vitest"
import * as RetryAfter from "@tokenfx/core/RetryAfter"
import * as Duration from "effect/Duration"

const NOW = Date.UTC(2025, 0, 1, 0, 0, 0)

const millis = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

describe("RetryAfter", () => {
  it.each([
    ["7", 7000],
    [" 0 ", 0],
    ["Wed, 01 Jan 2025 00:01:00 GMT", 60_000],
    ["Wednesday, 01-Jan-25 00:01:00 GMT", 60_000],
    ["Wed Jan  1 00:01:00 2025", 60_000],
    ["Tue, 31 Dec 2024 23:00:00 GMT", 0],
    ["soon", undefined],
    ["-1", undefined],
    ["1.5", undefined],
    ["", undefined],
    [undefined, undefined]
  ])("Retry-After %j is %j ms", (value, expected) => {
    assert.strictEqual(millis(RetryAfter.parse(value, NOW)), expected)
  })
})
