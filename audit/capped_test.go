package audit

import (
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
