// Package adminclient is a Go client of the authz admin API (/admin/v1/),
// used by the authz command line and by end-to-end tests.
//
// A Client authenticates itself: it obtains an access token from the
// token endpoint with the client-credentials grant, keeps it in memory
// until shortly before it expires and, with WithTokenCache, on disk (mode
// 0600), so that consecutive command-line invocations reuse one token.
// The admin API and the token endpoint listen on different addresses; the
// token endpoint is discovered from the issuer's RFC 8414 metadata.
//
// Refusals come back as *Error carrying the server's error_code; a server
// that cannot be reached gives one line naming the URL and the cause.
package adminclient
