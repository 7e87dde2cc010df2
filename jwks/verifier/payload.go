package verifier

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/authz/authz/statuslist"
)

// The payload decoder below exists for speed: with reflection-based
// encoding/json, decoding the claims cost as much as the rest of
// verification together (allocation-heavy, a third of an RS256 check).
// It is deliberately small because it only ever sees input that
//
//   - encoding/json has already validated as JSON (golang-jwt unmarshals
//     the payload before handing it to tokenClaims), and
//   - verified under the issuer's signature (decoding is deferred until
//     the validator asks for a claim, after the signature check).
//
// It hands every string with an escape sequence or invalid UTF-8 to
// encoding/json, and FuzzDecodePayload holds it to a reference decoder
// built on encoding/json. Unlike encoding/json's struct decoding, member
// names match exactly (RFC 7519 §4: claim names are case-sensitive).

var errClaimType = errors.New("claim of the wrong type")

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// maxNesting bounds the depth of skipped values and of act chains.
const maxNesting = 32

// decodePayload decodes the claims authz uses from the JSON object s into
// w. Every string in w is a substring of s or a fresh unescaped copy.
func decodePayload(s string, w *wireClaims) error {
	p := payloadParser{s: s}
	p.ws()
	if !p.eat('{') {
		return errClaimType
	}
	return p.object(func(name string) error {
		switch name {
		case "iss":
			return p.str(&w.Issuer)
		case "sub":
			return p.str(&w.Subject)
		case "jti":
			return p.str(&w.JTI)
		case "client_id":
			return p.str(&w.ClientID)
		case "scope":
			return p.str(&w.Scope)
		case "tenant":
			return p.str(&w.Tenant)
		case "key_id":
			return p.str(&w.KeyID)
		case "aud":
			if p.peek() == '"' {
				var a string
				if err := p.str(&a); err != nil {
					return err
				}
				w.Audience = audience{a}
				return nil
			}
			var list []string
			err := p.strs(&list)
			w.Audience = list
			return err
		case "roles":
			return p.strs(&w.Roles)
		case "exp":
			return p.date(&w.ExpiresAt)
		case "iat":
			return p.date(&w.IssuedAt)
		case "nbf":
			return p.date(&w.NotBefore)
		case "act":
			return p.actor(&w.Act, 0)
		case "status":
			return p.status(w)
		}
		return p.skip(0)
	})
}

type payloadParser struct {
	s string
	i int
}

func (p *payloadParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *payloadParser) peek() byte {
	p.ws()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *payloadParser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// null consumes a null literal; a claim set to null counts as absent.
func (p *payloadParser) null() bool {
	if p.peek() == 'n' && strings.HasPrefix(p.s[p.i:], "null") {
		p.i += 4
		return true
	}
	return false
}

// object parses members after the opening brace, calling member with
// each name positioned at its value.
func (p *payloadParser) object(member func(name string) error) error {
	if p.eat('}') {
		return nil
	}
	for {
		var name string
		if p.peek() != '"' {
			return errClaimType
		}
		if err := p.str(&name); err != nil {
			return err
		}
		if !p.eat(':') {
			return errClaimType
		}
		if err := member(name); err != nil {
			return err
		}
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return nil
		}
		return errClaimType
	}
}

// str parses a JSON string (null leaves dst empty).
func (p *payloadParser) str(dst *string) error {
	if p.null() {
		*dst = ""
		return nil
	}
	if p.peek() != '"' {
		return errClaimType
	}
	start := p.i
	p.i++
	plain := true
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			if raw := p.s[start+1 : p.i-1]; plain && utf8.ValidString(raw) {
				*dst = raw
				return nil
			}
			// Escapes and invalid UTF-8: encoding/json's rules apply.
			return json.Unmarshal([]byte(p.s[start:p.i]), dst)
		case c == '\\':
			plain = false
			p.i += 2
		default:
			p.i++
		}
	}
	return errClaimType
}

// strs parses an array of strings (null leaves dst nil).
func (p *payloadParser) strs(dst *[]string) error {
	*dst = nil
	if p.null() {
		return nil
	}
	if !p.eat('[') {
		return errClaimType
	}
	list := []string{}
	if p.eat(']') {
		*dst = list
		return nil
	}
	for {
		var s string
		if p.peek() != '"' {
			return errClaimType
		}
		if err := p.str(&s); err != nil {
			return err
		}
		list = append(list, s)
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			*dst = list
			return nil
		}
		return errClaimType
	}
}

// date parses a NumericDate (RFC 7519 §2): a JSON number of seconds.
func (p *payloadParser) date(dst **numericDate) error {
	*dst = nil
	if p.null() {
		return nil
	}
	p.ws()
	start := p.i
	for p.i < len(p.s) && strings.IndexByte("+-0123456789.eE", p.s[p.i]) >= 0 {
		p.i++
	}
	if start == p.i {
		return errClaimType
	}
	f, err := strconv.ParseFloat(p.s[start:p.i], 64)
	// Beyond year 9999 a date is meaningless and would overflow time.Time.
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxNumericDate {
		return errClaimType
	}
	d := numericDate(f)
	*dst = &d
	return nil
}

// actor parses an act claim: an object with sub and, optionally, a nested
// act; other members are ignored.
func (p *payloadParser) actor(dst **actorClaim, depth int) error {
	*dst = nil
	if p.null() {
		return nil
	}
	if depth >= maxNesting || !p.eat('{') {
		return errClaimType
	}
	a := &actorClaim{}
	err := p.object(func(name string) error {
		switch name {
		case "sub":
			return p.str(&a.Subject)
		case "act":
			return p.actor(&a.Act, depth+1)
		}
		return p.skip(depth + 1)
	})
	if err != nil {
		return err
	}
	*dst = a
	return nil
}

// status parses the status claim of a Referenced Token
// (draft-ietf-oauth-status-list): an object whose status_list member, when
// present and not null, must hold a non-negative integer idx and a
// non-empty string uri. Other members (other status mechanisms) are
// skipped; a status without status_list refers to no list.
func (p *payloadParser) status(w *wireClaims) error {
	w.HasStatus, w.Status = false, statuslist.ListReference{}
	if p.null() {
		return nil
	}
	if !p.eat('{') {
		return errClaimType
	}
	return p.object(func(name string) error {
		if name != "status_list" {
			return p.skip(1)
		}
		w.HasStatus, w.Status = false, statuslist.ListReference{}
		if p.null() {
			return nil
		}
		if !p.eat('{') {
			return errClaimType
		}
		idx, uri := int64(-1), ""
		err := p.object(func(name string) error {
			switch name {
			case "idx":
				return p.index(&idx)
			case "uri":
				return p.str(&uri)
			}
			return p.skip(2)
		})
		if err != nil {
			return err
		}
		if idx < 0 || uri == "" {
			return errClaimType
		}
		w.HasStatus, w.Status = true, statuslist.ListReference{Idx: idx, URI: uri}
		return nil
	})
}

// index parses a list index: a JSON integer that fits an int64 (null
// leaves -1, "missing"). Fractions and exponents are not integers here,
// as for encoding/json decoding into an int64.
func (p *payloadParser) index(dst *int64) error {
	*dst = -1
	if p.null() {
		return nil
	}
	p.ws()
	start := p.i
	for p.i < len(p.s) && strings.IndexByte("+-0123456789.eE", p.s[p.i]) >= 0 {
		p.i++
	}
	n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil {
		return errClaimType
	}
	*dst = n
	return nil
}

// skip passes over one value of any type.
func (p *payloadParser) skip(depth int) error {
	if depth >= maxNesting {
		return errClaimType
	}
	switch p.peek() {
	case '"':
		var s string
		return p.str(&s)
	case '{':
		p.i++
		return p.object(func(string) error { return p.skip(depth + 1) })
	case '[':
		p.i++
		if p.eat(']') {
			return nil
		}
		for {
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			if p.eat(',') {
				continue
			}
			if p.eat(']') {
				return nil
			}
			return errClaimType
		}
	}
	// A number or true/false/null: up to the next delimiter.
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(",]} \t\n\r", p.s[p.i]) < 0 {
		p.i++
	}
	if start == p.i {
		return errClaimType
	}
	return nil
}
