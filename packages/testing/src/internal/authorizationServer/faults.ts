/**
 * Forced answers (`failNext`): a queue of faults per endpoint, each answering a number of requests
 * before the server answers normally again.
 */
import type { Answer } from "../answer.js"
import type { Fault, State } from "./state.js"
import { increment } from "./state.js"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** @internal */
export const push = (state: State, fault: Fault): void => {
  if (fault.remaining > 0) state.faults.push(fault)
}

/**
 * The fault for the next request to `endpoint`, if one is queued: counted as a forced failure and as
 * an error (by its OAuth code, else `http_<status>`).
 *
 * @internal
 */
export const take = (
  state: State,
  endpoint: Fault["endpoint"]
): { readonly answer: Answer; readonly delay: Fault["delay"] } | undefined => {
  const index = state.faults.findIndex((fault) => fault.endpoint === endpoint)
  const fault = state.faults[index]
  if (fault === undefined) return undefined
  fault.remaining--
  if (fault.remaining <= 0) state.faults.splice(index, 1)
  state.counters.forcedFailures++
  const body = fault.answer.body
  increment(
    state.counters.errors,
    isRecord(body) && typeof body.error === "string" ? body.error : `http_${fault.answer.status}`
  )
  return fault
}
