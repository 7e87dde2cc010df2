package termsafe_test

import (
	"bytes"
	"testing"

	"github.com/authz/authz/termsafe"
)

func TestCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cli_abc", "cli_abc"},
		{"héllo wörld", "héllo wörld"},
		{"x\nadmin:admin\ttenant.suspend", `x\nadmin:admin\ttenant.suspend`},
		{"\x1b[2A\x1b[Kforged", `\x1b[2A\x1b[Kforged`},
		{"a\rb\x00c\x7f", `a\rb\x00c\x7f`},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"bad \xff byte", `bad \xff byte`},
		{"bidi \u202eevil", `bidi \u202eevil`},
	} {
		if got := termsafe.Cell(tc.in); got != tc.want {
			t.Errorf("Cell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The stream keeps the table's tabs and newlines, escapes the rest, and
// does not break a character split across writes.
func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := termsafe.Writer(&out)
	for _, p := range []string{"a\tb\n", "\x1b[1A", "é"[:1], "é"[1:], "\n"} {
		if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if got, want := out.String(), "a\tb\n\\x1b[1Aé\n"; got != want {
		t.Fatalf("stream = %q, want %q", got, want)
	}
}

func FuzzCell(f *testing.F) {
	for _, s := range []string{"", "plain", "a\nb", "\x1b[2J", "\xff\xfe", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := termsafe.Cell(s)
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x202e {
				t.Fatalf("Cell(%q) = %q keeps %U", s, got, r)
			}
		}
		if termsafe.Cell(got) != got {
			t.Fatalf("Cell is not idempotent on %q", s)
		}
	})
}
