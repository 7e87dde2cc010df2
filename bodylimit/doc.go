// Package bodylimit refuses an HTTP request whose declared Content-Length
// exceeds what its handler accepts, before any of the body is read.
//
// Reading the body is what makes net/http answer "100 Continue" to a
// client that sent Expect: 100-continue (curl does for large bodies). A
// handler that reads through http.MaxBytesReader therefore invites the
// whole body, stops at the limit and closes the connection while the
// client is still sending: the client often sees 100 and then a reset,
// never the 413. Checking the declared length first answers 413 with the
// errcode JSON at once, says Connection: close, and leaves the body
// unread. Handlers keep their http.MaxBytesReader for bodies of unknown
// length (chunked).
package bodylimit
