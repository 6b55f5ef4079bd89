import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Compliance from "../../Compliance.js"
import * as destination from "../destination.js"
import * as narrow from "../narrow.js"
import * as scrub from "../scrub.js"
import * as profile from "./profile.js"

/** Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed). */
export interface Options extends profile.ClientOptions {
  /** Default `https://github.com`; a GitHub Enterprise Server's own address otherwise. */
  readonly baseUrl?: string | undefined
  /** Default `https://api.github.com` (`<baseUrl>/api/v3` on GitHub Enterprise Server). */
  readonly apiUrl?: string | undefined
}

// "Troubleshooting OAuth app access token request errors" and "Authorizing OAuth apps" (device flow).
const codes: Record<string, string> = {
  device_flow_disabled: "unauthorized_client",
  incorrect_device_code: "invalid_grant",
  redirect_uri_mismatch: "invalid_grant",
  unverified_user_email: "access_denied"
}

// A number in JSON, text in a form-encoded answer ("interval=10"): decimal digits only.
const secondsOf = (value: unknown): number | undefined =>
  typeof value === "number"
    ? value
    : typeof value === "string" && /^\d+(?:\.\d+)?$/.test(value)
    ? Number(value)
    : undefined

const slowDownInterval = Compliance.mapError((error, answer) => {
  if (error._tag !== "SlowDown") return error
  const interval = secondsOf(Compliance.parseObject(answer.body)?.["interval"])
  return interval !== undefined && Number.isFinite(interval) && interval > 0
    ? new OAuthError.SlowDown({ ...error, interval: Duration.seconds(interval) })
    : error
})

/**
 * GitHub's token endpoint: form-encoded answers unless JSON is asked for (tokenfx asks), errors with
 * HTTP 200, comma-separated scopes, a `slow_down` that names the new interval.
 *
 * @internal
 */
export const compliance: Compliance.Compliance = Compliance.compose(
  Compliance.formBodies,
  Compliance.renameErrors(codes),
  Compliance.scopeSeparator(","),
  slowDownInterval,
  // The REST API's secondary rate limits: `x-ratelimit-reset` in epoch seconds.
  Compliance.rateLimitReset("x-ratelimit-reset")
)

const narrowRevocation = narrow.narrow([
  ...narrow.serverTags,
  "InvalidRequest",
  "InvalidClient",
  "UnsupportedTokenType"
])

/**
 * Revocation through the REST API (`DELETE /applications/{client_id}/grant`, Basic with the client id
 * and secret): the whole authorization ends, every token of it with it. GitHub takes the access token
 * only. A grant that is already gone (404) counts as revoked, as RFC 7009 would have it.
 *
 * @internal
 */
export const revoke = (options: Options, apiUrl: string): profile.Revoke => (client) => (token, hint) =>
  Effect.gen(function*() {
    if (hint === "refresh_token") {
      return yield* new OAuthError.UnsupportedTokenType({
        description: "GitHub revokes a grant by its access token only"
      })
    }
    const url = yield* destination.checkEndpoint(
      `${apiUrl}/applications/${encodeURIComponent(options.clientId)}/grant`,
      options.endpoint?.allowInsecureHttp ?? false
    )
    const endpoint = destination.label(url)
    let request = HttpClientRequest.del(url).pipe(
      HttpClientRequest.setHeader("accept", "application/vnd.github+json"),
      HttpClientRequest.bodyText(JSON.stringify({ access_token: Redacted.value(token) }), "application/json")
    )
    if (options.clientSecret !== undefined) {
      request = HttpClientRequest.basicAuth(request, options.clientId, Redacted.value(options.clientSecret))
    }
    const timeout = Duration.decode(options.endpoint?.timeout ?? Duration.seconds(10))
    const { body, status, headers } = yield* client.execute(request).pipe(
      // At most 64 KiB of an answer that is only ever an error message.
      Effect.flatMap((response) =>
        response.stream.pipe(
          Stream.decodeText(),
          Stream.runFoldWhile("", (text) => text.length < 65_536, (text, chunk) => text + chunk),
          Effect.catchIf((error) => error._tag === "ResponseError" && error.reason === "EmptyBody", () =>
            Effect.succeed("")),
          Effect.map((body) => ({ body: body.slice(0, 65_536), status: response.status, headers: response.headers }))
        )
      ),
      Effect.mapError((error) =>
        new OAuthError.TransportError({ reason: "Connection", description: `request failed (${error._tag})`, endpoint })
      ),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new OAuthError.TransportError({ reason: "Timeout", endpoint })
      })
    )
    if ((status >= 200 && status < 300) || status === 404) return
    const now = yield* Clock.currentTimeMillis
    const read = status === 422
      ? new OAuthError.InvalidRequest({ description: "GitHub refused the request (422)", status, endpoint })
      : ErrorResponse.fromHttp({ status, headers, body, endpoint }, now)
    const secrets = options.clientSecret === undefined ? [token] : [token, options.clientSecret]
    return yield* Effect.fail(narrowRevocation(scrub.scrub(read, scrub.needles(secrets))))
  })

/** @internal */
export const make = (options: Options): profile.Profile => {
  const base = profile.trim(options.baseUrl ?? "https://github.com")
  const apiUrl = profile.trim(options.apiUrl ?? "https://api.github.com")
  return {
    name: "github",
    endpoint: profile.endpointOptions(options, {
      authorizationEndpoint: `${base}/login/oauth/authorize`,
      tokenEndpoint: `${base}/login/oauth/access_token`,
      deviceAuthorizationEndpoint: `${base}/login/device/code`,
      // GitHub documents the client id and secret as form parameters.
      clientAuthentication: options.clientSecret === undefined ? "none" : "client_secret_post",
      compliance
    }),
    scope: options.scope,
    revokeWith: "access_token",
    revoke: revoke(options, apiUrl)
  }
}
