/**
 * The device authorization grant (RFC 8628): the device authorization endpoint, the user's decision
 * (in place of the verification page) and the polling of the token endpoint, `slow_down` included.
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Answer } from "../answer.js"
import type { Form } from "./form.js"
import type { Client, Grant, State } from "./state.js"
import { deviceGrant, error, randomToken } from "./state.js"
import { grantedScope, issued, mint } from "./tokens.js"

// RFC 8628 section 6.1: consonants only, no ambiguous letters, as XXXX-XXXX.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

const randomUserCode = (): string => {
  const letters = Array.from(
    globalThis.crypto.getRandomValues(new Uint8Array(8)),
    (byte) => userCodeAlphabet.charAt(byte % userCodeAlphabet.length)
  ).join("")
  return `${letters.slice(0, 4)}-${letters.slice(4)}`
}

const verificationUri = (state: State): string => `${state.config.issuer}/device`

/**
 * The device authorization endpoint: a device code for the client and a user code for the user.
 *
 * @internal
 */
export const authorization = (state: State, client: Client, form: Form, now: number): Answer => {
  if (!client.grantTypes.includes(deviceGrant)) {
    return error(state, 400, "unauthorized_client", "the client may not use the device flow")
  }
  const scope = grantedScope(state, client, form.get("scope"))
  if (Either.isLeft(scope)) return scope.left
  const { deviceInterval, deviceTtl } = state.config
  const deviceCode = randomToken("dc")
  const userCode = randomUserCode()
  state.deviceCodes.set(deviceCode, {
    clientId: client.clientId,
    userCode,
    scope: scope.right,
    expiresAt: now + deviceTtl,
    interval: deviceInterval,
    lastPoll: undefined,
    decision: undefined
  })
  const uri = verificationUri(state)
  return {
    status: 200,
    body: {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: uri,
      verification_uri_complete: `${uri}?user_code=${userCode}`,
      expires_in: Math.round(deviceTtl / 1000),
      interval: Math.round(deviceInterval / 1000)
    },
    headers: { "cache-control": "no-store" }
  }
}

/**
 * The user approves (as `subject`) or denies a pending device authorization by its user code, typed
 * in any case and with or without its dash.
 *
 * @internal
 */
export const decide = (
  state: State,
  userCode: string,
  decision: { readonly subject: string } | "denied"
): Effect.Effect<void, OAuthError.InvalidGrant | OAuthError.ExpiredToken> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const normalized = userCode.toUpperCase().replace(/[^A-Z]/g, "")
    const device = Array.from(state.deviceCodes.values()).find((d) => d.userCode.replace("-", "") === normalized)
    const endpoint = verificationUri(state)
    if (device === undefined || device.decision !== undefined) {
      return yield* new OAuthError.InvalidGrant({ description: "unknown or already used user code", endpoint })
    }
    if (now >= device.expiresAt) {
      return yield* new OAuthError.ExpiredToken({ description: "the device code has expired", endpoint })
    }
    device.decision = decision
  })

/**
 * The token endpoint's device code grant: pending, `slow_down` when polled faster than the interval
 * (which then grows by five seconds, RFC 8628 section 3.5), denied, expired, or the tokens.
 *
 * @internal
 */
export const poll = (state: State, client: Client, form: Form, now: number): Answer => {
  const value = form.get("device_code")
  if (value === undefined) return error(state, 400, "invalid_request", "device_code is missing")
  const device = state.deviceCodes.get(value)
  if (device === undefined || device.clientId !== client.clientId) {
    return error(state, 400, "invalid_grant", "unknown device code")
  }
  if (device.decision === "used") return error(state, 400, "invalid_grant", "the device code was already used")
  if (now >= device.expiresAt) return error(state, 400, "expired_token", "the device code has expired")
  const tooSoon = device.lastPoll !== undefined && now - device.lastPoll < device.interval
  device.lastPoll = now
  if (tooSoon) {
    device.interval += 5000
    const slowDown = error(state, 400, "slow_down", "polling too fast")
    // GitHub names the new interval; other servers' clients ignore the extra member.
    return { ...slowDown, body: { ...(slowDown.body as object), interval: device.interval / 1000 } }
  }
  if (device.decision === undefined) return error(state, 400, "authorization_pending", "the user has not decided yet")
  if (device.decision === "denied") {
    device.decision = "used"
    return error(state, 400, "access_denied", "the user denied the request")
  }
  const grant: Grant = {
    id: randomToken("grant"),
    clientId: client.clientId,
    subject: device.decision.subject,
    scope: device.scope
  }
  device.decision = "used"
  const withRefresh = client.grantTypes.includes("refresh_token")
  return issued(state, deviceGrant, mint(state, grant, device.scope, now, withRefresh))
}
