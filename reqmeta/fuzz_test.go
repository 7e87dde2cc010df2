package reqmeta

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzUserAgentOf: whatever a client sends as its User-Agent, what the
// audit log keeps is short, valid UTF-8 and free of control characters.
func FuzzUserAgentOf(f *testing.F) {
	for _, s := range []string{"", "curl/8.5.0", "evil\r\nX: 1", "\x1b[2J", "bad\xffutf8", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := UserAgentOf(in)
		if len(out) > maxUserAgent || !utf8.ValidString(out) {
			t.Fatalf("UserAgentOf(%q) = %q", in, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("UserAgentOf(%q) keeps control character %U", in, r)
			}
		}
		if in != "" && out == "" {
			t.Fatalf("UserAgentOf(%q) dropped everything", in)
		}
	})
}
