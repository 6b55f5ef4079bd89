/**
 * A browser, enough of one to walk oidc-provider's pages as a user would: cookies, redirects and
 * forms, for the authorization code flow's login and consent and for the device flow's verification
 * page.
 */
import * as Effect from "effect/Effect"
import { routes } from "./configuration.js"
import { accountHeader } from "./routes.js"

// Cookies by name, whatever their path: one jar serves one login, where names do not clash.
class CookieJar {
  private readonly cookies = new Map<string, string>()
  store(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";", 1)[0] ?? ""
      const at = pair.indexOf("=")
      if (at <= 0) continue
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      // oidc-provider deletes a cookie by setting it empty (and expired).
      if (value.length === 0) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
  header(): string {
    return Array.from(this.cookies, ([name, value]) => `${name}=${value}`).join("; ")
  }
}

interface Page {
  readonly status: number
  readonly body: string
  /** Set when the walk stopped at a redirect to `stopAt`. */
  readonly location?: string | undefined
}

// Follows redirects with the jar until a page that is not a redirect, or a redirect to `stopAt`.
const browse = (
  jar: CookieJar,
  accountId: string,
  first: { readonly url: string; readonly form?: Record<string, string> },
  stopAt?: string
): Effect.Effect<Page> =>
  Effect.promise(async () => {
    let request: { url: string; form?: Record<string, string> | undefined } = first
    for (let hop = 0; hop < 20; hop++) {
      const response = await fetch(request.url, {
        method: request.form === undefined ? "GET" : "POST",
        redirect: "manual",
        headers: {
          cookie: jar.header(),
          [accountHeader]: accountId,
          accept: "text/html",
          ...(request.form === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" })
        },
        ...(request.form === undefined ? {} : { body: new URLSearchParams(request.form).toString() })
      })
      jar.store(response)
      const location = response.headers.get("location")
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel()
        const next = new URL(location, request.url).href
        if (stopAt !== undefined && next.startsWith(stopAt)) {
          return { status: response.status, body: "", location: next }
        }
        request = { url: next }
        continue
      }
      const body = await response.text()
      if (stopAt !== undefined) {
        const error = /data-error="([^"]*)"/.exec(body)?.[1]
        throw new Error(
          `OidcProvider: expected a redirect to ${stopAt}, got status ${response.status}${
            error === undefined ? "" : ` (${error}: ${body.replace(/<[^>]*>/g, "").trim()})`
          }`
        )
      }
      return { status: response.status, body }
    }
    throw new Error("OidcProvider: too many redirects")
  })

/**
 * Completes the login and consent for an authorization URL and returns the parameters of the final
 * redirect to its `redirect_uri` (`fallbackRedirectUri` when it names none). Dies when the server
 * answers with an error instead.
 *
 * @internal
 */
export const authorize = (
  authorizationUrl: string,
  accountId: string,
  fallbackRedirectUri: string
): Effect.Effect<{ readonly code: string; readonly state: string | undefined; readonly iss: string | undefined }> =>
  Effect.gen(function*() {
    const expected = new URL(authorizationUrl).searchParams.get("redirect_uri") ?? fallbackRedirectUri
    const final = yield* browse(new CookieJar(), accountId, { url: authorizationUrl }, expected)
    if (final.location === undefined) {
      return yield* Effect.dieMessage(`OidcProvider.authorize: no redirect to ${expected}`)
    }
    const params = new URL(final.location).searchParams
    const error = params.get("error")
    if (error !== null) {
      return yield* Effect.dieMessage(
        `OidcProvider.authorize: the server answered ${error}: ${params.get("error_description") ?? ""}`
      )
    }
    const code = params.get("code")
    if (code === null) {
      return yield* Effect.dieMessage(`OidcProvider.authorize: no code in the redirect to ${expected}`)
    }
    return { code, state: params.get("state") ?? undefined, iss: params.get("iss") ?? undefined }
  })

/**
 * The device flow as a browser runs it: the user code page (which sets the session and its xsrf
 * secret), then the form, then login and consent, to the final page. Returns that page's outcome
 * (`approved`, `AbortedError`, ...).
 *
 * @internal
 */
export const deviceForm = (
  issuer: string,
  userCode: string,
  accountId: string,
  decision: "confirm" | "abort"
): Effect.Effect<string> =>
  Effect.gen(function*() {
    const jar = new CookieJar()
    const page = yield* browse(jar, accountId, { url: `${issuer}${routes.code_verification}` })
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1]
    if (xsrf === undefined) return yield* Effect.dieMessage("OidcProvider: the device page has no xsrf field")
    const done = yield* browse(jar, accountId, {
      url: `${issuer}${routes.code_verification}`,
      form: { xsrf, user_code: userCode, [decision]: "yes" }
    })
    return /data-outcome="([^"]*)"/.exec(done.body)?.[1] ?? `status ${done.status}`
  })
