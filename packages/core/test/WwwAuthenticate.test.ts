import { assert, describe, it } from "@effect/vitest"
import * as WwwAuthenticate from "@tokenfx/core/WwwAuthenticate"

describe("WwwAuthenticate", () => {
  it.each(
    [
      ["", []],
      ["Bearer", [{ scheme: "Bearer", params: {} }]],
      [
        "Bearer realm=\"example\", error=\"invalid_token\", error_description=\"The access token expired\"",
        [{
          scheme: "Bearer",
          params: { realm: "example", error: "invalid_token", error_description: "The access token expired" }
        }]
      ],
      [
        "Basic realm=\"a\", Bearer realm=\"b\", error=invalid_token",
        [
          { scheme: "Basic", params: { realm: "a" } },
          { scheme: "Bearer", params: { realm: "b", error: "invalid_token" } }
        ]
      ],
      [
        "Bearer error_description=\"say \\\"hi\\\", then, leave\", REALM=api",
        [{ scheme: "Bearer", params: { error_description: "say \"hi\", then, leave", realm: "api" } }]
      ],
      [
        "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"",
        [
          { scheme: "Newauth", params: { realm: "apps", type: "1", title: "Login to \"apps\"" } },
          { scheme: "Basic", params: { realm: "simple" } }
        ]
      ],
      ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", [{ scheme: "Basic", params: {}, token68: "YWxhZGRpbjpvcGVuc2VzYW1l" }]],
      [
        "Negotiate abc+/==, Bearer realm=\"x\"",
        [{ scheme: "Negotiate", params: {}, token68: "abc+/==" }, { scheme: "Bearer", params: { realm: "x" } }]
      ],
      [
        "Bearer error=\"insufficient_scope\", scope=\"read write\", DPoP algs=\"ES256 PS256\"",
        [
          { scheme: "Bearer", params: { error: "insufficient_scope", scope: "read write" } },
          { scheme: "DPoP", params: { algs: "ES256 PS256" } }
        ]
      ],
      ["Bearer realm=\"unterminated", [{ scheme: "Bearer", params: { realm: "unterminated" } }]],
      ["Bearer ,, realm=\"x\" ,", [{ scheme: "Bearer", params: { realm: "x" } }]]
    ] as const
  )("parses %j", (header, expected) => {
    assert.deepStrictEqual(WwwAuthenticate.parse(header), expected)
  })
})
