/**
 * Token stores: encrypted, `KeyValueStore` and the raw-payload interface (the file and SQL stores are imported from their own paths, `@tokenfx/storage/FileTokenStore` and `@tokenfx/storage/SqlTokenStore`).
 *
 * @since 0.1.0
 */
