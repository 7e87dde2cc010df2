package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Cell returns s with every control character, every invalid UTF-8 byte
// and every bidirectional override escaped Go-style (\n, \t, \x1b, \u202e),
// so it prints as one line that shows exactly what it contains. A
// backslash is left alone: the escapes are for reading, not for parsing.
func Cell(s string) string {
	if clean(s, false) {
		return s
	}
	var b strings.Builder
	escape(&b, s, false)
	return b.String()
}

// clean reports whether s needs no escaping.
func clean(s string, keepLayout bool) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafe(r, n, keepLayout) {
			return false
		}
		i += n
	}
	return true
}

func unsafe(r rune, n int, keepLayout bool) bool {
	switch {
	case r == utf8.RuneError && n <= 1:
		return true
	case keepLayout && (r == '\t' || r == '\n'):
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

func escape(b *strings.Builder, s string, keepLayout bool) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !unsafe(r, n, keepLayout):
			b.WriteString(s[i : i+n])
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			fmt.Fprintf(b, `\x%02x`, r)
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
		i += n
	}
}

// Writer returns a writer that escapes, on the way to w, what Cell escapes
// except tab and newline. A multi-byte character split across two writes
// is held back until it is whole.
func Writer(w io.Writer) io.Writer { return &writer{w: w} }

type writer struct {
	w    io.Writer
	tail []byte // an incomplete UTF-8 sequence from the previous write
}

func (x *writer) Write(p []byte) (int, error) {
	buf := append(x.tail, p...)
	x.tail = nil
	// Hold back a trailing incomplete (but so far valid) sequence.
	for k := 1; k <= 3 && k <= len(buf); k++ {
		start := len(buf) - k
		if utf8.RuneStart(buf[start]) {
			if !utf8.FullRune(buf[start:]) {
				x.tail = append([]byte(nil), buf[start:]...)
				buf = buf[:start]
			}
			break
		}
	}
	s := string(buf)
	if !clean(s, true) {
		var b strings.Builder
		escape(&b, s, true)
		s = b.String()
	}
	if _, err := io.WriteString(x.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
