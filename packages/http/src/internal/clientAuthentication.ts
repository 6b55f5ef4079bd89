import * as Redacted from "effect/Redacted"
import type * as ClientAuthentication from "../ClientAuthentication.js"
import * as form from "./form.js"

/**
 * What a client sends with a request: headers and form fields. Values are `Redacted` where they are
 * secret, unwrapped only when the body is encoded.
 *
 * @internal
 */
export interface Credentials {
  readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>
  readonly form: Readonly<Record<string, string | Redacted.Redacted<string>>>
}

/**
 * The `Authorization` header of `client_secret_basic`: the client id and secret are each
 * form-urlencoded before they are joined by a colon and base64-encoded (RFC 6749 section 2.3.1), so
 * that a secret holding `:` or `%` survives.
 *
 * @internal
 */
export const basicAuthorization = (clientId: string, clientSecret: Redacted.Redacted<string>): Redacted.Redacted<
  string
> => {
  const pair = `${form.encodeValue(clientId)}:${form.encodeValue(Redacted.value(clientSecret))}`
  // The pair is ASCII after form-encoding, so btoa cannot throw.
  return Redacted.make(`Basic ${globalThis.btoa(pair)}`)
}

/**
 * The headers and form fields that authenticate `self` on a request to the token endpoint (and the
 * revocation, introspection and device authorization endpoints, which authenticate the same way).
 * For the JWT methods, only the `client_id`: the assertion is signed per request by `ClientAssertion`.
 *
 * @internal
 */
export const credentials = (self: ClientAuthentication.ClientAuthentication): Credentials => {
  switch (self.method) {
    case "client_secret_basic":
      return { headers: { authorization: basicAuthorization(self.clientId, self.clientSecret) }, form: {} }
    case "client_secret_post":
      return { headers: {}, form: { client_id: self.clientId, client_secret: self.clientSecret } }
    case "none":
    case "client_secret_jwt":
    case "private_key_jwt":
      return { headers: {}, form: { client_id: self.clientId } }
  }
}
