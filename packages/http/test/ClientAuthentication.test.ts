import { assert, describe, it } from "@effect/vitest"
import * as ClientAuthentication from "@tokenfx/http/ClientAuthentication"
import * as Redacted from "effect/Redacted"
import * as clientAuthentication from "../src/internal/clientAuthentication.js"

const secret = Redacted.make("sp3c!al:secret+/=?&%~")

const decodeBasic = (header: Redacted.Redacted<string>) => {
  const value = Redacted.value(header)
  assert.isTrue(value.startsWith("Basic "))
  return Buffer.from(value.slice(6), "base64").toString("utf8")
}

describe("ClientAuthentication", () => {
  it("basic form-urlencodes id and secret, so that a colon in either survives", () => {
    assert.strictEqual(
      decodeBasic(clientAuthentication.basicAuthorization("my client:1", secret)),
      "my+client%3A1:sp3c%21al%3Asecret%2B%2F%3D%3F%26%25%7E"
    )
    // Unreserved characters of the form serializer stay as they are; non-ASCII is UTF-8 percent-encoded.
    assert.strictEqual(
      decodeBasic(clientAuthentication.basicAuthorization("a-b_c.d*e", Redacted.make("é'()"))),
      "a-b_c.d*e:%C3%A9%27%28%29"
    )
  })

  it("the header is Redacted and says nothing when printed", () => {
    const header = clientAuthentication.basicAuthorization("id", secret)
    assert.notInclude(String(header), "Basic")
    assert.notInclude(JSON.stringify({ header }), "Basic")
  })

  it("defaults: basic with a secret, none without, post when the server supports only post", () => {
    assert.strictEqual(ClientAuthentication.make({ clientId: "c", clientSecret: secret }).method, "client_secret_basic")
    assert.strictEqual(ClientAuthentication.make({ clientId: "c" }).method, "none")
    assert.strictEqual(ClientAuthentication.make({ clientId: "c", method: "client_secret_post" }).method, "none")
    assert.strictEqual(
      ClientAuthentication.make({ clientId: "c", clientSecret: secret, supported: ["client_secret_post"] }).method,
      "client_secret_post"
    )
    assert.strictEqual(
      ClientAuthentication.make({
        clientId: "c",
        clientSecret: secret,
        supported: ["client_secret_post", "client_secret_basic"]
      }).method,
      "client_secret_basic"
    )
    assert.strictEqual(
      ClientAuthentication.make({ clientId: "c", clientSecret: secret, method: "none" }).method,
      "none"
    )
  })

  it("credentials put each method's fields where they belong", () => {
    const basic = clientAuthentication.credentials({
      method: "client_secret_basic",
      clientId: "c",
      clientSecret: secret
    })
    assert.deepStrictEqual(Object.keys(basic.headers), ["authorization"])
    assert.deepStrictEqual(basic.form, {})
    const post = clientAuthentication.credentials({ method: "client_secret_post", clientId: "c", clientSecret: secret })
    assert.deepStrictEqual(post.headers, {})
    assert.strictEqual(post.form["client_id"], "c")
    assert.strictEqual(post.form["client_secret"], secret)
    const none = clientAuthentication.credentials({ method: "none", clientId: "c" })
    assert.deepStrictEqual(none, { headers: {}, form: { client_id: "c" } })
  })
})
