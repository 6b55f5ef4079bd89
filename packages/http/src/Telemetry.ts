/**
 * Every metric tokenfx records, in one place, so an operator can find them by name. Names start with
 * `tokenfx_`; labels hold only bounded, secret-free values (operation, grant type, outcome, error tag,
 * a state or reason from a fixed vocabulary).
 *
 * Every metric also carries the label `client`: the `clientLabel` option of the `TokenEndpoint`,
 * `TokenManager`, `AuthorizedClient` or `authorizedFetch` that recorded it (default `"default"`), so that one process
 * serving several applications (OAuth clients) can tell them apart. Choose a fixed name per
 * application; never a user id, a key or anything secret.
 *
 * @since 0.3.0
 */
import type * as TokenHealth from "@tokenfx/core/TokenHealth"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"

/**
 * The `client` label's value when no `clientLabel` option is given.
 *
 * @since 0.3.0
 * @category labels
 */
export const defaultClient = "default"

/**
 * The `client` label for a `clientLabel` option (`"default"` when it is missing or empty).
 *
 * @since 0.3.0
 * @category labels
 */
export const clientLabel = (client: string | undefined): MetricLabel.MetricLabel =>
  MetricLabel.make("client", client === undefined || client === "" ? defaultClient : client)

const durationBoundaries = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

/**
 * Requests sent to the authorization server, by `operation`, `grant_type` (for token requests) and
 * `outcome` (`success` or the error code).
 *
 * @since 0.3.0
 * @category token endpoint
 */
export const requestsTotal = Metric.counter("tokenfx_token_endpoint_requests_total", {
  description: "Requests sent to the authorization server, by operation, grant type and outcome",
  incremental: true
})

/**
 * Requests to the authorization server retried after a transient failure, by `operation` and
 * `grant_type`.
 *
 * @since 0.3.0
 * @category token endpoint
 */
export const retriesTotal = Metric.counter("tokenfx_token_endpoint_retries_total", {
  description: "Requests to the authorization server retried after a transient failure",
  incremental: true
})

/**
 * Latency of requests to the authorization server in milliseconds, by `operation` and `grant_type`.
 *
 * @since 0.3.0
 * @category token endpoint
 */
export const requestDuration = Metric.timerWithBoundaries(
  "tokenfx_token_endpoint_request_duration",
  durationBoundaries,
  "Latency of requests to the authorization server"
)

/**
 * Waits imposed by the authorization server, by `operation`: a retry delayed by `Retry-After` (or a
 * 429), a request held back by an endpoint's shared cooldown, a device poll slowed by `slow_down`,
 * and a `TokenManager` refresh postponed for `Retry-After` (operation `tokenManager`).
 *
 * @since 0.3.0
 * @category token endpoint
 */
export const rateLimitWaits = Metric.counter("tokenfx_rate_limit_waits", {
  description: "Waits imposed by the authorization server (Retry-After, cooldown, slow_down), by operation",
  incremental: true
})

/**
 * Answers `invalid_client` from the authorization server (or a client assertion that could not be
 * signed), by `operation`: the client's credentials are wrong, expired or not accepted.
 *
 * @since 0.3.0
 * @category token endpoint
 */
export const clientAuthenticationFailures = Metric.counter("tokenfx_client_authentication_failures", {
  description: "Client authentication rejected by the authorization server (invalid_client), by operation",
  incremental: true
})

/**
 * Token refreshes that produced a new token.
 *
 * @since 0.3.0
 * @category token manager
 */
export const refreshes = Metric.counter("tokenfx_token_refreshes", {
  description: "Token refreshes that produced a new token",
  incremental: true
})

/**
 * Refresh attempts that failed (a dead grant not included), by `error` (the error's `_tag`).
 *
 * @since 0.3.0
 * @category token manager
 */
export const refreshFailures = Metric.counter("tokenfx_token_refresh_failures", {
  description: "Token refresh attempts that failed, by error tag",
  incremental: true
})

/**
 * Tokens taken from the store, refreshed by another holder, instead of refreshing.
 *
 * @since 0.3.0
 * @category token manager
 */
export const adoptions = Metric.counter("tokenfx_token_adoptions", {
  description: "Tokens adopted from another holder's refresh",
  incremental: true
})

/**
 * How long a refresh took in milliseconds, from presenting the grant to the token source until the
 * new token was stored (or the attempt failed).
 *
 * @since 0.3.0
 * @category token manager
 */
export const refreshDuration = Metric.timerWithBoundaries(
  "tokenfx_token_refresh_duration",
  durationBoundaries,
  "Latency of token refreshes, from the grant presented to the token stored"
)

/**
 * The states of {@link tokensActive}: `TokenHealth.State`, the vocabulary the stores' counts and
 * `tokenfx status` share, decided by `TokenHealth.classify`.
 *
 * - `fresh`: served with no refresh needed.
 * - `refresh_window`: still valid, due for a refresh.
 * - `expired`: held but no longer served (refreshing it is failing, or about to find the grant dead).
 * - `dead`: its grant died (`ReconnectRequired`); the user must log in again.
 *
 * @since 0.3.0
 * @category token manager
 */
export type TokenState = TokenHealth.State

/**
 * The keys a `TokenManager` holds in memory, by `state` ({@link TokenState}). Exact at every
 * instant: a key moves from one state to the next when its token is replaced, fails, crosses its
 * refresh or expiry instant, dies, is revoked, or is released after `idleTimeToLive`.
 *
 * @since 0.3.0
 * @category token manager
 */
export const tokensActive = Metric.gauge("tokenfx_tokens_active", {
  description: "Keys held by a TokenManager, by state (fresh, refresh_window, expired, dead)"
})

/**
 * Keys whose user must log in again, by `reason`: `invalid_grant` (the server refused the refresh
 * token: revoked, expired or consumed), `refresh_token_expired` (its `refresh_token_expires_in`
 * passed), `no_refresh_token` (the token expired and nothing can renew it), and
 * `refresh_token_expiring` (a `ReconnectSoon` warning: it will expire within `reconnectWarning`).
 *
 * @since 0.3.0
 * @category token manager
 */
export const reconnectsRequired = Metric.counter("tokenfx_reconnects_required", {
  description: "Keys whose user must log in again, by reason",
  incremental: true
})

/**
 * Keys held by a `TokenManager` whose refresh token expires within its `reconnectWarning` horizon
 * (or has expired while the access token is still served): the users to ask to reconnect.
 *
 * @since 0.3.0
 * @category token manager
 */
export const refreshTokensExpiring = Metric.gauge("tokenfx_refresh_tokens_expiring", {
  description: "Keys whose refresh token expires within the reconnect-warning horizon"
})

/**
 * Tokens revoked by `TokenManager.revoke`, by `reason` (`user_disconnect`, `suspicious_activity`,
 * `account_deactivated`, `other`, `unspecified`).
 *
 * @since 0.3.0
 * @category token manager
 */
export const revocations = Metric.counter("tokenfx_revocations", {
  description: "Tokens revoked, by reason",
  incremental: true
})

/**
 * Responses `401` and `403` from resource servers seen by `AuthorizedClient` and by
 * `TokenManagerPromise`'s `authorizedFetch`, by `status`.
 *
 * @since 0.3.0
 * @category authorized client
 */
export const resourceResponses = Metric.counter("tokenfx_resource_responses", {
  description: "Resource server answers 401 and 403 seen by AuthorizedClient, by status",
  incremental: true
})

/**
 * Tokens in a `TokenStore`, by `state` (`fresh`, `refresh_window`, `expired`: `TokenStore.stats`, by
 * expiry), as last polled by `StoreMetrics.layer`. Set, not incremented: give each polled store its own
 * `client` label. Per-user counts are never a label (unbounded): ask `stats({ byUser: true })`.
 *
 * @since 0.3.0
 * @category token store
 */
export const storeTokens = Metric.gauge("tokenfx_store_tokens", {
  description: "Tokens in a TokenStore, by state (fresh, refresh_window, expired), as last polled"
})
