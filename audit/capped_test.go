package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCapDetails(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", `{"scope":"orders:read"}`, `{"scope":"orders:read"}`},
		{"long string", `{"reason":"` + strings.Repeat("a", 300) + `"}`, `{"reason":"` + strings.Repeat("a", 256) + `…[300 bytes]"}`},
		{"cut at a whole character", `{"aud":"` + long + `"}`, `{"aud":"` + strings.Repeat("é", 128) + `…[400 bytes]"}`},
		{"nested and in arrays", `{"aud":["x","` + strings.Repeat("b", 257) + `"],"n":12345678901234567890}`,
			`{"aud":["x","` + strings.Repeat("b", 256) + `…[257 bytes]"],"n":12345678901234567890}`},
		{"long but no long string", `{"a":"` + strings.Repeat("c", 200) + `","b":"` + strings.Repeat("d", 200) + `"}`,
			`{"a":"` + strings.Repeat("c", 200) + `","b":"` + strings.Repeat("d", 200) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := capDetails(json.RawMessage(tc.in), MaxRequestText)
			if string(got) != tc.want {
				t.Fatalf("capDetails = %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Fatal("not JSON")
			}
		})
	}
}

// FuzzHasLongString: whenever hasLongString says a valid JSON text has no
// literal longer than max, decoding it finds no string to cut, so skipping
// the decode changes nothing.
func FuzzHasLongString(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"jti":"x\"y","scope":"orders:read"}`, `["\u00e9\u00e9\u00e9"]`, `{"k":"\\\\\\""}`, `"` + strings.Repeat("é", 20) + `"`} {
		f.Add([]byte(s), 4)
	}
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 1 || max > 64 || !json.Valid(b) || hasLongString(b, max) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if _, changed := capValue(v, max); changed {
			t.Fatalf("hasLongString(%q, %d) = false, yet a string is longer than %d", b, max, max)
		}
	})
}
