// Package bodylimittest sends requests that declare a large body over a
// raw connection, with and without Expect: 100-continue, and checks that
// they are refused with 413 before the body is read (see bodylimit).
package bodylimittest
