import * as Token from "@tokenfx/core/Token";
import * as TokenStore from "@tokenfx/core/TokenStore";
import type * as Layer from "effect/Layer";
/** A key no other test (nor an earlier run against the same database) uses. */
export declare const freshKey: (label: string) => string;
/** A token with every field set, secrets derived from `n`. */
export declare const fullToken: (n: number) => Token.Token;
/** A token with only the required fields. */
export declare const minimalToken: (n: number) => Token.Token;
/**
 * Registers the conformance tests of a `TokenStore` implementation under `describe(name)`.
 */
export declare const tokenStoreSuite: <E>(name: string, layer: Layer.Layer<TokenStore.TokenStore, E>) => void;
//# sourceMappingURL=TokenStoreSuite.d.ts.map