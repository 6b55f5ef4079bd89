/**
 * An in-memory OAuth 2.0 authorization server for tokenfx tests (the oidc-provider harness and the store conformance suite are imported from their own paths).
 *
 * @since 0.1.0
 */
