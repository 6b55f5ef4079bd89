import type * as HttpClient from "@effect/platform/HttpClient"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Backoff from "../Backoff.js"
import * as ClientAuthentication from "../ClientAuthentication.js"
import type * as Compliance from "../Compliance.js"
import * as Telemetry from "../Telemetry.js"
import type * as TokenEndpointOptions from "../TokenEndpointOptions.js"
import * as clientAssertion from "./clientAssertion.js"
import * as cooldown from "./cooldown.js"
import * as destination from "./destination.js"
import type * as form from "./form.js"
import * as rateLimit from "./rateLimit.js"
import * as transport from "./transport.js"

// One request to an endpoint of the authorization server, as every operation of a `TokenEndpoint`
// sends it: authenticated (a fresh assertion per attempt for the JWT methods), metered, retried with
// backoff, and quiet while the endpoint's `Retry-After` cooldown runs.

/**
 * What a call needs of the `TokenEndpoint` options.
 *
 * @internal
 */
export type Options = Pick<
  TokenEndpointOptions.Options,
  | "tokenEndpoint"
  | "revocationEndpoint"
  | "introspectionEndpoint"
  | "deviceAuthorizationEndpoint"
  | "clientId"
  | "clientSecret"
  | "clientAuthentication"
  | "clientPrivateKey"
  | "clientAssertion"
  | "timeout"
  | "backoff"
  | "allowInsecureHttp"
  | "compliance"
  | "maxBodySize"
  | "maxCooldown"
  | "clientLabel"
>

/** @internal */
export interface EndpointCall {
  readonly call: <E extends transport.Failure>(
    operation: string,
    grantType: string | undefined,
    url: string,
    form: form.Form,
    narrowed: (failure: transport.Failure) => E
  ) => Effect.Effect<transport.Answer, E | OAuthError.RateLimited>
  /** The span attributes of an operation: its grant type and the server's address. */
  readonly annotate: (url: string | undefined, grantType?: string) => Effect.Effect<void>
  /** Counts a wait the server imposed on `operation` outside a call (a device poll's `slow_down`). */
  readonly waited: (operation: string) => Effect.Effect<void>
  readonly settings: transport.Settings
}

// A metric label must not be a server-chosen string: unknown codes share one outcome.
const outcomeOf = (error: { readonly _tag: string; readonly code: string }): string =>
  error._tag === "UnknownOAuthError" ? "unknown_error" : error.code

/** @internal */
export const make = Effect.fnUntraced(function*(client: HttpClient.HttpClient, options: Options) {
  const settings = transport.settings(options)
  const policy = Backoff.policy(options.backoff)
  const authentication = ClientAuthentication.make({
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    privateKey: options.clientPrivateKey,
    method: options.clientAuthentication
  })
  // Per attempt: a JWT method signs a fresh assertion (its own jti) each time.
  const credentials = yield* clientAssertion.make(authentication, {
    ...options.clientAssertion,
    audience: options.clientAssertion?.audience ?? options.tokenEndpoint,
    endpoint: destination.labelOf(options.tokenEndpoint)
  })
  // Masked wherever a server echoes it; the Basic header carries it only encoded.
  const clientSecret = options.clientSecret === undefined ? [] : [options.clientSecret]
  const metricClient = Telemetry.clientLabel(options.clientLabel)
  const operationLabels = (operation: string) => [metricClient, MetricLabel.make("operation", operation)]
  const endpointNames = new Map<string, Compliance.Endpoint>([
    [options.deviceAuthorizationEndpoint ?? "", "device_authorization"],
    [options.introspectionEndpoint ?? "", "introspection"],
    [options.revocationEndpoint ?? "", "revocation"],
    [options.tokenEndpoint, "token"]
  ])
  // A server cannot silence an endpoint for longer than this, however far its `Retry-After` is.
  const maxCooldown = options.maxCooldown === undefined ? policy.maxElapsed : Duration.decode(options.maxCooldown)
  // One cooldown per endpoint, shared by every operation that calls it.
  const cooldowns = new Map<string, cooldown.Cooldown>()
  for (
    const url of [
      options.tokenEndpoint,
      options.revocationEndpoint,
      options.introspectionEndpoint,
      options.deviceAuthorizationEndpoint
    ]
  ) {
    if (url !== undefined && !cooldowns.has(url)) {
      cooldowns.set(url, yield* cooldown.make(destination.labelOf(url), { maxCooldown }))
    }
  }

  const call = <E extends transport.Failure>(
    operation: string,
    grantType: string | undefined,
    url: string,
    form: form.Form,
    narrowed: (failure: transport.Failure) => E
  ): Effect.Effect<transport.Answer, E | OAuthError.RateLimited> =>
    Effect.suspend(() => {
      const byOperation = operationLabels(operation)
      const labels = grantType === undefined ? byOperation : [...byOperation, MetricLabel.make("grant_type", grantType)]
      const waits = Metric.taggedWithLabels(Telemetry.rateLimitWaits, byOperation)
      const authFailures = Metric.taggedWithLabels(Telemetry.clientAuthenticationFailures, byOperation)
      const duration = Metric.taggedWithLabels(Telemetry.requestDuration, labels)
      let attempts = 0
      let status: number | undefined
      const attempt = Effect.flatMap(Clock.currentTimeMillis, (start) => {
        attempts++
        const record = (outcome: string, seen: number | undefined) =>
          Effect.flatMap(Clock.currentTimeMillis, (end) => {
            if (seen !== undefined) status = seen
            return Effect.zipRight(
              Metric.increment(
                Metric.taggedWithLabels(Telemetry.requestsTotal, [...labels, MetricLabel.make("outcome", outcome)])
              ),
              Metric.update(duration, Duration.millis(end - start))
            ).pipe(Effect.zipRight(outcome === "invalid_client" ? Metric.increment(authFailures) : Effect.void))
          })
        return Effect.flatMap(credentials, (credentials) =>
          transport.send(client, {
            method: "POST",
            url,
            form: { ...form, ...credentials.form },
            headers: credentials.headers,
            secrets: clientSecret,
            compliance: options.compliance === undefined
              ? undefined
              : { hooks: options.compliance, endpoint: endpointNames.get(url) ?? "token" }
          }, settings)).pipe(
            Effect.mapError(narrowed),
            Effect.tapBoth({
              onSuccess: (answer) => record("success", answer.status),
              onFailure: (error) => record(outcomeOf(error), "status" in error ? error.status : undefined)
            })
          )
      })
      return cooldown.retry(attempt, rateLimit.countWaits(cooldowns.get(url), waits), {
        policy,
        onRetry: (error) =>
          Effect.zipRight(
            Metric.increment(Metric.taggedWithLabels(Telemetry.retriesTotal, labels)),
            rateLimit.imposed(error) ? Metric.increment(waits) : Effect.void
          )
      }).pipe(
        Effect.ensuring(Effect.suspend(() =>
          Effect.annotateCurrentSpan(
            status === undefined
              ? { "tokenfx.attempts": attempts }
              : { "tokenfx.attempts": attempts, "http.response.status_code": status }
          )
        ))
      )
    })

  const annotate = (url: string | undefined, grantType?: string) => {
    const host = url === undefined ? undefined : destination.hostOf(url)
    return Effect.annotateCurrentSpan({
      ...(grantType === undefined ? {} : { "oauth.grant_type": grantType }),
      ...(host === undefined ? {} : { "server.address": host })
    })
  }

  const waited = (operation: string) =>
    Metric.increment(Metric.taggedWithLabels(Telemetry.rateLimitWaits, operationLabels(operation)))

  return { call, annotate, waited, settings } satisfies EndpointCall
})
