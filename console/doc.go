// Package console is authz's web console: self-service pages for key
// holders (their legacy keys with the diagnosis of each, their OAuth
// clients, the steps from a key to a token, their usage) and, for
// administrators, the migration dashboard, orphan keys, principals and the
// audit trail. It listens on its own address (serve --console-addr).
//
// Design:
//
//   - Pages are rendered on the server with html/template; the templates,
//     the stylesheet and one small script (the copy button) are embedded in
//     the binary with embed, so the console works offline, from the binary
//     alone, with no CDN. Every page works without JavaScript.
//   - Charts are SVG drawn on the server from the same numbers the page
//     shows: no charting library to vendor and keep patched, nothing for
//     the Content-Security-Policy to allow, and the chart is in the HTML
//     that tests (and screen readers) read.
//   - Sign-in is by a one-time link (POST /admin/v1/console/links, `authz
//     console link`): 256 random bits whose SHA-256 alone is stored, used
//     once (one DELETE ... RETURNING), expiring. The link opens a page whose
//     button signs in, so that a link unfurler fetching the URL does not
//     spend it. Sessions live in the store, so replicas share them, with an
//     idle and an absolute expiry; the cookie is HttpOnly, SameSite=Strict,
//     and Secure (with the __Host- prefix) when the console URL is https.
//   - Optionally, sign-in through an OpenID Connect provider (OIDC,
//     serve --console-oidc-*): /oidc/start sends the browser to the
//     provider with the authorization-code flow, PKCE (S256), a state and a
//     nonce; /oidc/callback checks the state, exchanges the code with the
//     verifier, verifies the ID token with go-oidc (signature against the
//     provider's JWKS found by discovery, iss, aud, exp), checks the nonce,
//     and signs in the one principal (not deleted) whose external_id is
//     the configured claim (sub by default); none or several is a 403 page.
//     State, nonce and verifier are derived from one random secret kept in
//     a short-lived HttpOnly cookie (SameSite=Lax, since the provider's
//     redirect back is cross-site), so any replica finishes a sign-in and
//     the server stores nothing until the session. The callback answers a
//     page that moves to / itself: the browser would not send the Strict
//     session cookie on a redirect of a navigation begun at the provider.
//     Every request to the provider goes through package outbound.
//   - Every state-changing request carries a CSRF token derived from the
//     session secret (HMAC), and a cross-origin Origin is refused; the CSP
//     allows scripts from the console's own origin only.
//   - Authorization is the admin API's own: every read and every action is
//     an in-process request to the admin API handler (admin.WithCaller)
//     as the signed-in principal, whose scopes are its roles' permissions,
//     audited with actor "console:<principal id>". So admin.Decide is the
//     one decision, the operations are the ones the CLI calls, and the
//     error codes are the same.
//
// What the figures count (they are read from the store, through the admin
// API where it lists them, so they hold across replicas and restarts,
// unlike a process's Prometheus counters, which reset and are per replica):
//
//   - Refusals (/refusals) charts refused token requests of the last 30
//     UTC days per day and error_code, with a table of the totals per
//     error_code. They are read from the store's refusal counts
//     (store.ListRefusalCounts): the token endpoint counts each refusal,
//     where it increments authz_token_requests_total{outcome="refused",
//     error_code}, per tenant (none for a request that named no known
//     tenant), UTC hour and error_code in memory (usage.Recorder.Refused),
//     and every replica's usage flush adds its counts every few seconds.
//     So the chart's totals per error_code equal that counter's
//     increments summed across replicas, malformed and rate_limited
//     refusals included (the audit log writes those only as samples,
//     audit.Recorder.Sample), less the last seconds not yet flushed, or
//     lost with a replica that died before its flush. Lockouts and SCIM
//     refusals are not token requests and are not counted. A tenant admin
//     sees its tenant's counts only; a global administrator every
//     tenant's. Each error_code links to the audit page's token.refuse
//     events, for who was refused and why. Counts are kept 90 days
//     (store.RefusalRetention).
//     Below the totals, a global administrator (authz:admin) sees a
//     second table, "since this replica started": that counter itself,
//     gathered from the server's registry (Config.Metrics) and summed over
//     grant per error_code, the same numbers /metrics serves. A tenant
//     admin does not: the counter has no tenant label, so it would show
//     other tenants' refusals.
//   - Keys exchanged in the last 24 hours (/dashboard) counts the audit log's
//     successful token.issue events whose target is a legacy key: one per
//     token issued for a key, written before the token leaves. It is read
//     in pages of 1000 up to 50 pages, past which the page says "at least".
//     authz_legacy_exchanges_total{outcome="issued"} counts the same
//     exchanges per process. The hourly use counts of store.AlertQueries
//     (UsesSince) would give the same number but need a query per key.
//   - Each client secret's last use (/clients) is the usage flush's, like
//     the client's own (package usage): the token endpoint records which
//     secret matched, in memory, and the flush writes it every few seconds,
//     so the page and the admin API are that far behind.
//   - The history line (/dashboard) is GET /reports/migration/history: the
//     daily counts by holder state recorded by legacykeys.RunHistory, summed
//     over the tenants the caller administers unless a tenant is chosen.
package console
