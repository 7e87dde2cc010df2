package scim

import (
	"bytes"
	"encoding/json"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

const schemaPatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

// maxOperations bounds one PATCH.
const maxOperations = 1000

// patchOp is one operation of a PATCH (RFC 7644 §3.5.2), normalised: op in
// lower case (Entra ID sends "Replace"), the parsed path (nil for Okta's
// path-less form, whose value is an object of attributes).
type patchOp struct {
	Op      string
	Path    *filter.Path
	RawPath string
	Value   json.RawMessage
}

// parsePatch parses a PatchOp body. Member names match in any case
// (RFC 7643 §2.1); an unknown op is invalidSyntax, a path that does not
// parse invalidPath, a remove without a path noTarget.
func parsePatch(body []byte) (ops []patchOp, err error) {
	defer func() {
		if p := recover(); p != nil {
			ops, err = nil, badRequest(typeInvalidPath, "a path does not parse")
		}
	}()
	top, err := object(body)
	if err != nil {
		return nil, err
	}
	raw, ok := member(top, "operations")
	if !ok || isNull(raw) {
		return nil, badRequest(typeInvalidSyntax, `a PATCH needs "Operations" (RFC 7644 §3.5.2)`)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badRequest(typeInvalidSyntax, `"Operations" must be an array`)
	}
	if len(list) > maxOperations {
		return nil, &Error{Status: 400, Type: typeTooMany, Detail: "more than 1000 operations in one PATCH"}
	}
	for i, item := range list {
		m, err := object(item)
		if err != nil {
			return nil, badRequest(typeInvalidSyntax, "operation %d is not an object", i+1)
		}
		var op patchOp
		if v, ok := member(m, "op"); ok {
			_ = json.Unmarshal(v, &op.Op)
		}
		op.Op = strings.ToLower(op.Op)
		switch op.Op {
		case "add", "replace", "remove":
		default:
			return nil, badRequest(typeInvalidSyntax, "operation %d: op must be add, replace or remove", i+1)
		}
		if v, ok := member(m, "path"); ok && !isNull(v) {
			if err := json.Unmarshal(v, &op.RawPath); err != nil {
				return nil, badRequest(typeInvalidPath, "operation %d: path must be a string", i+1)
			}
		}
		op.RawPath = strings.TrimSpace(op.RawPath)
		if op.RawPath != "" {
			p, err := filter.ParsePath([]byte(op.RawPath))
			if err != nil {
				return nil, badRequest(typeInvalidPath, "operation %d: path %q does not parse", i+1, describe(op.RawPath))
			}
			op.Path = &p
		}
		op.Value, _ = member(m, "value")
		switch {
		case op.Op == "remove" && op.Path == nil:
			return nil, badRequest(typeNoTarget, "operation %d: remove needs a path", i+1)
		case op.Op != "remove" && (op.Value == nil || isNull(op.Value)):
			return nil, badRequest(typeInvalidValue, "operation %d: %s needs a value", i+1, op.Op)
		case op.Op != "remove" && op.Path == nil && !isObject(op.Value):
			return nil, badRequest(typeInvalidValue, "operation %d: without a path the value must be an object of attributes", i+1)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// object decodes a JSON object, keeping its members raw.
func object(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, badRequest(typeInvalidSyntax, "the body is not a JSON object")
	}
	if dec.More() {
		return nil, badRequest(typeInvalidSyntax, "the body has data after the JSON object")
	}
	return m, nil
}

// member finds an object member by name in any case; an exact match wins.
func member(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}

func isArray(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '['
}

// boolValue reads a boolean that IdPs send as true or as "True" (Entra ID).
func boolValue(v json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, true
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// stringValue reads a string; null is "".
func stringValue(v json.RawMessage) (string, bool) {
	if isNull(v) {
		return "", true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}
