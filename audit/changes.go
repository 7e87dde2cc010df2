package audit

import (
	"bytes"
	"encoding/json"
	"strings"
)

// redacted stands in for the value of a secret-named field nested inside a
// changed field.
const redacted = "[redacted]"

// Changes describes what an admin change did, for an event's Details:
//
//	{"Status": {"from": "active", "to": "suspended"}, "Secrets": {"changed": true}}
//
// before and after are two values of one type (nil for a creation or a
// deletion); fields are compared in their JSON form and only changed ones
// appear, in key order. Fields named like secrets (hash, secret(s), private,
// key, client_secret, password, token) never show their value, only that
// they changed, and secret-named fields nested in a changed value are
// redacted: the audit log is readable by tenant admins and must not become
// a copy of the credential store.
//
// It returns {} when nothing changed and nil when a value cannot be
// expressed as JSON.
func Changes(before, after any) json.RawMessage {
	b, okB := fields(before)
	a, okA := fields(after)
	if !okB || !okA {
		return nil
	}
	out := map[string]any{}
	for name := range union(b, a) {
		from, to := b[name], a[name]
		if sameJSON(from, to) {
			continue
		}
		if secretName(name) {
			out[name] = map[string]bool{"changed": true}
			continue
		}
		// "from"/"to" are always present, null when the field is absent on
		// one side, so that a reader need not guess what omission means.
		out[name] = map[string]any{"from": scrub(decode(from)), "to": scrub(decode(to))}
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return raw
}

// fields returns the top-level members of v's JSON form. nil (and JSON
// null) is an object with no fields; a non-object value is one field named
// "value".
func fields(v any) (map[string]json.RawMessage, bool) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		return map[string]json.RawMessage{}, true
	}
	if len(raw) > 0 && raw[0] == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, false
		}
		return m, true
	}
	return map[string]json.RawMessage{"value": raw}, true
}

func union(a, b map[string]json.RawMessage) map[string]struct{} {
	u := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		u[k] = struct{}{}
	}
	for k := range b {
		u[k] = struct{}{}
	}
	return u
}

// sameJSON compares two JSON values semantically (key order and spacing do
// not matter). An absent value equals null.
func sameJSON(x, y json.RawMessage) bool {
	cx, errX := json.Marshal(decode(x))
	cy, errY := json.Marshal(decode(y))
	return errX == nil && errY == nil && bytes.Equal(cx, cy)
}

func decode(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	return v
}

// scrub replaces the values of secret-named members anywhere inside v.
func scrub(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if secretName(k) {
				t[k] = redacted
			} else {
				t[k] = scrub(x)
			}
		}
	case []any:
		for i, x := range t {
			t[i] = scrub(x)
		}
	}
	return v
}

// secretName reports whether a field name (Go or JSON spelling) looks like
// it holds a secret: Hash, SecretHash, client_secret, Private, PrivateKey,
// Key, password... Names that merely mention a key (KeyID, key_id) do not.
func secretName(name string) bool {
	n := strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(name))
	switch n {
	case "key", "private", "secret", "secrets", "token", "password", "passphrase":
		return true
	}
	for _, suffix := range []string{"hash", "secret", "secrets", "privatekey", "password", "token"} {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}
