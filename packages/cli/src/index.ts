/**
 * What a failed command tells the user: what went wrong, what to do next, and an exit code a script
 * can branch on. Library errors are translated here, and none of them carries a secret.
 *
 * | code | kind                | what to do                                    |
 * | ---- | ------------------- | --------------------------------------------- |
 * | 1    | `Failure`           | read the message (a denied login, HTTP error) |
 * | 2    | `Usage`             | fix the command line (`tokenfx --help`)       |
 * | 3    | `Configuration`     | fix the profile, client or storage settings   |
 * | 4    | `ReconnectRequired` | log in again (`tokenfx login`)                |
 * | 5    | `Server`            | retry later: the server or network failed     |
 *
 * @since 0.1.0
 */
export * as CliError from "./CliError.js"

/**
 * The `tokenfx` command line: `login`, `token`, `exec`, `request`, `status` and `logout`, with the
 * exit codes of `CliError`. Only `token` prints a secret (to stdout, and nothing else); `exec` hands
 * the token to a child process through its environment.
 *
 * @since 0.1.0
 */
export * as Commands from "./Commands.js"

/**
 * Logging a profile in: the profile from flags (discovering the server's endpoints) or from the config
 * file, then the device flow (RFC 8628, the default) or the authorization code flow with PKCE through
 * a loopback redirect (RFC 8252, `--browser`), the token written to the store and the profile saved.
 * Everything is written to stderr: `login` prints nothing to stdout, so scripts can chain it.
 *
 * @since 0.1.0
 */
export * as Login from "./Login.js"

/**
 * Profiles: which authorization server and client each named login uses, kept in
 * `<config dir>/tokenfx/config.json` (the config dir is `$TOKENFX_CONFIG_DIR`, else
 * `$XDG_CONFIG_HOME/tokenfx`, else `~/.config/tokenfx`). Tokens are not in this file: they live in the
 * token store beside it (`tokens/`, 0600 files in a 0700 directory).
 *
 * @since 0.1.0
 */
export * as Profile from "./Profile.js"

/**
 * What `tokenfx status` reports for each profile: the server, the client, its health (the state
 * `TokenHealth.classify` gives, the vocabulary of the `tokenfx_tokens_active` gauge, or `missing` /
 * `unreadable`), when its token is due for a refresh and expires, the refresh token's horizon, its scopes,
 * and where it is kept. Never a token value.
 *
 * @since 0.1.0
 */
export * as Status from "./Status.js"
