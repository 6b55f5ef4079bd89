import { addEqualityTesters } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"

addEqualityTesters()

// A synchronous property that fails shrinks synchronously, where no test timeout can end it (the
// worker's event loop is blocked): every property, shrinking included, gets 20 s, and running out of
// time counts as a failure. fast-check prints the seed and path to replay it.
FastCheck.configureGlobal({ interruptAfterTimeLimit: 20_000, markInterruptAsFailure: true })
