/** The client every library presents to the loopback server. */
export const CLIENT_ID = "bench"
export const CLIENT_SECRET = "bench-secret"
