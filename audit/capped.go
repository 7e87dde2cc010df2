package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// MaxRequestText is how many bytes of one string from a token request
// (an audience, a scope, a resource, a refusal reason quoting them) an
// audit event keeps. The token endpoint accepts bodies of many kilobytes
// from anyone; without a cap a single request writes them whole into the
// chained log, and a flood of them fills it (issue 22 §4).
const MaxRequestText = 256

// capDetails shortens every string in the JSON details longer than max
// bytes to its first max bytes (whole characters) followed by
// "…[N bytes]", N being the full length, so the event still says how much
// was sent. Details that cannot hold such a string are returned as they
// are; details that are not valid JSON were refused by validate before.
func capDetails(details json.RawMessage, max int) json.RawMessage {
	if len(details) <= max || !hasLongString(details, max) {
		return details
	}
	dec := json.NewDecoder(bytes.NewReader(details))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return details
	}
	v, changed := capValue(v, max)
	if !changed {
		return details
	}
	out, err := json.Marshal(v)
	if err != nil {
		return details
	}
	return out
}

// hasLongString reports whether the JSON text holds a string literal
// (member names included) that may decode to more than max bytes: an ASCII
// literal never decodes to more bytes than it has (escapes only shrink),
// any other to no more than three times as many (an invalid UTF-8 byte
// becomes U+FFFD, three bytes). When it says no, capDetails has nothing to
// cut and skips decoding, which was
// about a fifth of the allocations of every issued token (whose details
// are longer than max in total but hold only short strings).
func hasLongString(b []byte, max int) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		start, high := i+1, false
		for i = start; i < len(b) && b[i] != '"'; i++ {
			switch {
			case b[i] == '\\':
				i++ // the escaped character, never the closing quote
			case b[i] >= utf8.RuneSelf:
				high = true
			}
		}
		n := i - start
		if high {
			// Invalid UTF-8 decodes to U+FFFD, three bytes for one.
			n *= 3
		}
		if n > max {
			return true
		}
	}
	return false
}

func capValue(v any, max int) (any, bool) {
	switch x := v.(type) {
	case string:
		if len(x) <= max {
			return x, false
		}
		cut := max
		for cut > 0 && !utf8.RuneStart(x[cut]) {
			cut--
		}
		return fmt.Sprintf("%s…[%d bytes]", x[:cut], len(x)), true
	case []any:
		ch := false
		for i := range x {
			var c bool
			x[i], c = capValue(x[i], max)
			ch = ch || c
		}
		return x, ch
	case map[string]any:
		ch := false
		for k := range x {
			var c bool
			x[k], c = capValue(x[k], max)
			ch = ch || c
		}
		return x, ch
	}
	return v, false
}
