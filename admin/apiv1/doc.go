// Package apiv1 holds the JSON objects of the authz admin API (/admin/v1/):
// what the admin server encodes and what adminclient decodes, in one place so
// the two cannot drift apart.
//
// It imports nothing of authz, so a Go program can speak the admin API
// without linking the server. Conventions: every object has "id"; names are
// snake_case; times are RFC 3339; durations are whole seconds; secrets shown
// once travel in "client_secret" (clients) or "key" (legacy keys) and are
// never returned again.
package apiv1
