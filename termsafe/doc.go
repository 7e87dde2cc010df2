// Package termsafe makes untrusted text safe to print on a terminal.
//
// Audit events, labels and identifiers reach the CLI's tables from
// requests anyone can send (issue 22 §4): a client id with a newline and a
// tab forges a well-aligned table row, and an escape sequence moves the
// cursor or rewrites what is already on screen. Cell escapes everything
// that is not printable, including the tab and newline a table uses as
// separators; Writer does the same for a stream but keeps tab and newline,
// which the table printer itself writes.
package termsafe
