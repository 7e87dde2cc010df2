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
//   - Every state-changing request carries a CSRF token derived from the
//     session secret (HMAC), and a cross-origin Origin is refused; the CSP
//     allows scripts from the console's own origin only.
//   - Authorization is the admin API's own: every read and every action is
//     an in-process request to the admin API handler (admin.WithCaller)
//     as the signed-in principal, whose scopes are its roles' permissions,
//     audited with actor "console:<principal id>". So admin.Decide is the
//     one decision, the operations are the ones the CLI calls, and the
//     error codes are the same.
package console
