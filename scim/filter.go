package scim

import (
	"fmt"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// maxFilter bounds a filter's length: the IdPs send one or two equalities.
const maxFilter = 4096

// Core schema URIs: an attribute path may be qualified with its
// resource's own schema (RFC 7644 §3.10).
const (
	schemaUser  = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup = "urn:ietf:params:scim:schemas:core:2.0:Group"
)

// equalities is what a supported filter asks for: attribute (lower case)
// → the value it must equal. none is true when the filter contradicts
// itself (userName eq "a" and userName eq "b"): nothing matches.
type equalities struct {
	eq   map[string]string
	none bool
}

// parseFilter parses a filter (RFC 7644 §3.4.2.2) with filter-parser and
// keeps what authz answers: eq on the allowed attributes (lower-case
// names), joined with and. Anything else is 400 invalidFilter, never a
// wrong answer.
func parseFilter(raw, schema string, allowed ...string) (q equalities, err error) {
	q.eq = map[string]string{}
	if strings.TrimSpace(raw) == "" {
		return q, nil
	}
	if len(raw) > maxFilter {
		return q, badRequest(typeInvalidFilter, "the filter is longer than %d bytes", maxFilter)
	}
	if eqs, ok := simpleEqualities(raw); ok {
		return q, q.addSimple(eqs, allowed)
	}
	return parseFilterFull(raw, schema, allowed)
}

// parseFilterFull parses raw with the grammar library.
func parseFilterFull(raw, schema string, allowed []string) (q equalities, err error) {
	q.eq = map[string]string{}
	defer func() {
		// The grammar library is not ours: a panic on some input must be
		// a refusal of that input, not a 500.
		if p := recover(); p != nil {
			err = badRequest(typeInvalidFilter, "the filter does not parse")
		}
	}()
	expr, err := filter.ParseFilter([]byte(raw))
	if err != nil {
		return q, badRequest(typeInvalidFilter, "the filter does not parse: %v", err)
	}
	if err := q.add(expr, schema, allowed); err != nil {
		return q, err
	}
	return q, nil
}

func (q *equalities) add(e filter.Expression, schema string, allowed []string) error {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if e.Operator != filter.AND {
			return badRequest(typeInvalidFilter, "authz answers filters of eq joined with and; %q is not supported", string(e.Operator))
		}
		if err := q.add(e.Left, schema, allowed); err != nil {
			return err
		}
		return q.add(e.Right, schema, allowed)
	case *filter.AttributeExpression:
		name, err := attrName(e.AttributePath, schema)
		if err != nil {
			return err
		}
		if !contains(allowed, name) {
			return badRequest(typeInvalidFilter, "authz filters only on %s; not on %q", strings.Join(allowed, ", "), e.AttributePath.String())
		}
		if e.Operator != filter.EQ {
			return badRequest(typeInvalidFilter, "authz answers only the eq operator; not %q", string(e.Operator))
		}
		v, ok := e.CompareValue.(string)
		if !ok {
			return badRequest(typeInvalidFilter, "%s eq needs a string value", e.AttributePath.String())
		}
		if prev, seen := q.eq[name]; seen && !strings.EqualFold(prev, v) {
			q.none = true
		}
		q.eq[name] = v
		return nil
	default:
		return badRequest(typeInvalidFilter, "authz answers filters of eq joined with and; not %v", e)
	}
}

// simpleEqualities reads the filter an IdP's lookup sends, one or more
// `attr eq "value"` joined by ` and `, single-spaced, the value printable
// ASCII without quote or backslash, as [name, value] pairs. Anything else
// is not ok and goes to the grammar library, which a reconciliation's
// 200,000 lookups would otherwise spend a tenth of their CPU in; on what
// it reads, this agrees with the library (FuzzSimpleEqualities).
func simpleEqualities(raw string) (pairs [][2]string, ok bool) {
	for {
		name, rest, ok := strings.Cut(raw, " eq \"")
		if !ok || name == "" || !isAttrName(name) {
			return nil, false
		}
		end := strings.IndexByte(rest, '"')
		if end < 0 {
			return nil, false
		}
		value := rest[:end]
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < 0x20 || c > 0x7e || c == '\\' {
				return nil, false
			}
		}
		pairs = append(pairs, [2]string{name, value})
		rest = rest[end+1:]
		if rest == "" {
			return pairs, true
		}
		if raw, ok = strings.CutPrefix(rest, " and "); !ok {
			return nil, false
		}
	}
}

// isAttrName: ALPHA *(ALPHA / DIGIT / "-" / "_") (RFC 7643 §2.1), no URI
// prefix and no sub-attribute.
func isAttrName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '-' || c == '_')) {
			return false
		}
	}
	return s != ""
}

// addSimple keeps simpleEqualities' pairs as add keeps the library's.
func (q *equalities) addSimple(pairs [][2]string, allowed []string) error {
	for _, p := range pairs {
		name := strings.ToLower(p[0])
		if !contains(allowed, name) {
			return badRequest(typeInvalidFilter, "authz filters only on %s; not on %q", strings.Join(allowed, ", "), p[0])
		}
		if prev, seen := q.eq[name]; seen && !strings.EqualFold(prev, p[1]) {
			q.none = true
		}
		q.eq[name] = p[1]
	}
	return nil
}

// attrName is the lower-case name of a top-level attribute of schema (the
// path may be qualified with schema's URI), or invalidFilter.
func attrName(p filter.AttributePath, schema string) (string, error) {
	if p.URIPrefix != nil && !strings.EqualFold(*p.URIPrefix, schema) {
		return "", badRequest(typeInvalidFilter, "authz does not filter on %q", p.String())
	}
	if p.SubAttribute != nil {
		return "", badRequest(typeInvalidFilter, "authz does not filter on sub-attribute %q", p.String())
	}
	return strings.ToLower(p.AttributeName), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// describe is a short text of a value for an error detail.
func describe(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
