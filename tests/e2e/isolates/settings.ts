/** What the e2e `isolates` target (run.ts) runs with: a short idle TTL and low start limits (and few sandboxes per client address), for the specs that test them. */
export const ISOLATE_SETTINGS = { ttlSeconds: 10, visitorStartsPerMinute: 6, addressStartsPerMinute: 4, addressLiveSandboxes: 2 };
