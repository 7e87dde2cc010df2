package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// decode reads a JSON request body into v: at most limit bytes, one value,
// no unknown fields (a misspelt field must not silently mean "default").
// An empty body is accepted when optional is true.
func decode(w http.ResponseWriter, r *http.Request, v any, limit int64, optional bool) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			if optional {
				return nil
			}
			return errcode.New(errcode.RequestInvalid, "request body: a JSON object is required")
		case errors.As(err, &tooBig):
			return errcode.Newf(errcode.RequestTooLarge, "request body: larger than %d bytes; send smaller batches", limit)
		case errors.As(err, &syntax):
			return errcode.Newf(errcode.RequestInvalid, "request body: invalid JSON at byte %d", syntax.Offset)
		case errors.As(err, &typ):
			return errcode.Newf(errcode.RequestInvalid, "%s: must be %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errcode.Newf(errcode.RequestInvalid, "request body: %s is not a field of this request", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return errcode.Wrap(errcode.RequestInvalid, err, "request body: not a valid JSON object for this request")
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errcode.New(errcode.RequestInvalid, "request body: one JSON object expected, found more")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	default:
		return "a number"
	}
}

// reply writes v as JSON. Responses can carry a secret shown once, so
// nothing may cache them.
func reply(w http.ResponseWriter, status int, v any) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// maxQueryValue bounds a query parameter's value: ids, names, cursors and
// times are all far shorter.
const maxQueryValue = 1024

// checkQuery refuses a query string that the handlers' parsers would
// otherwise half-read (url.Values drops malformed pairs silently), name
// ambiguously (a repeated parameter), or pass to the store as text the
// database refuses (invalid UTF-8 and NUL are errors in PostgreSQL, which
// would answer 500): every malformed request is a 400 with error_code.
func checkQuery(r *http.Request) error {
	// Path segments ({id}) reach the store the same way.
	if !utf8.ValidString(r.URL.Path) || strings.ContainsFunc(r.URL.Path, unicode.IsControl) {
		return errcode.New(errcode.RequestInvalid, "the path contains control characters or invalid UTF-8")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errcode.New(errcode.RequestInvalid, "the query string is not valid URL encoding")
	}
	for name, vals := range q {
		field := "query parameter " + strconv.Quote(name)
		if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) || len(name) > 64 {
			return errcode.New(errcode.RequestInvalid, "a query parameter name is not printable text")
		}
		if len(vals) > 1 {
			return invalid(field, "given %d times; give it once", len(vals))
		}
		switch v := vals[0]; {
		case len(v) > maxQueryValue:
			return invalid(field, "at most %d bytes", maxQueryValue)
		case !utf8.ValidString(v):
			return invalid(field, "not valid UTF-8")
		case strings.ContainsFunc(v, unicode.IsControl):
			return invalid(field, "contains control characters")
		}
	}
	return nil
}

// maxCursor bounds ?after=; cursors are ids or numbers.
const maxCursor = 256

// page reads ?limit= and ?after=. The cursor's shape is the listing's
// business (the store answers store.ErrBadCursor); here it must at least
// be short printable ASCII, as every cursor the API returns is.
func page(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{After: q.Get("after")}
	if len(p.After) > maxCursor || strings.ContainsFunc(p.After, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
		return p, invalid("after", "not a cursor this listing returned; start without after and follow next")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			return p, errcode.Newf(errcode.RequestInvalid, "limit: must be a whole number from 1 to %d", store.MaxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

func list[T any](items []T, next string) apiv1.List[T] {
	if items == nil {
		items = []T{}
	}
	return apiv1.List[T]{Items: items, Next: next}
}

// invalid is a validation error naming the field.
func invalid(field, format string, args ...any) error {
	return errcode.New(errcode.RequestInvalid, field+": "+fmt.Sprintf(format, args...))
}

// notFound answers for objects that do not exist and for those of another
// tenant alike.
func notFound(kind, id string) error {
	return errcode.Newf(errcode.NotFound, "no %s %q", kind, id)
}

// storeErr turns a storage outcome into the caller's answer. conflict says
// which value is taken, in words the caller can act on.
func storeErr(err error, kind, id, conflict string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return notFound(kind, id)
	case errors.Is(err, store.ErrConflict) && conflict != "":
		return errcode.Wrap(errcode.Conflict, err, conflict)
	}
	return err
}

// name checks a human-readable name: required, at most max characters, no
// control characters, no surrounding space.
func checkName(field, v string, max int) error {
	switch {
	case v == "":
		return invalid(field, "required")
	case !utf8.ValidString(v):
		return invalid(field, "not valid UTF-8")
	case strings.TrimSpace(v) != v:
		return invalid(field, "must not start or end with spaces")
	case utf8.RuneCountInString(v) > max:
		return invalid(field, "at most %d characters", max)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// checkTokens checks a list of scope-like strings (scopes, permissions,
// audiences, grant types): each printable ASCII without spaces or quotes
// (RFC 6749 §3.3 scope-token), and returns it without duplicates.
func checkTokens(field string, vs []string, maxItems int) ([]string, error) {
	if len(vs) > maxItems {
		return nil, invalid(field, "at most %d entries", maxItems)
	}
	out := make([]string, 0, len(vs))
	seen := make(map[string]bool, len(vs))
	for i, v := range vs {
		if v == "" || len(v) > 256 {
			return nil, invalid(fmt.Sprintf("%s[%d]", field, i), "must be 1 to 256 characters")
		}
		for j := 0; j < len(v); j++ {
			if c := v[j]; c <= 0x20 || c == '"' || c == '\\' || c >= 0x7f {
				return nil, invalid(fmt.Sprintf("%s[%d]", field, i), "%q has a character not allowed in a scope token (space, quote, backslash or non-ASCII)", v)
			}
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// parseDuration reads a duration in a query parameter: whole seconds, a Go
// duration ("36h") or days ("30d").
func parseDuration(field, s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n <= maxSeconds {
		return time.Duration(n) * time.Second, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 && n <= maxSeconds/86400 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, invalid(field, "%q is not a duration (seconds, or like 36h or 30d)", s)
}

// parseTime reads an RFC 3339 time in a query parameter.
func parseTime(field, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, invalid(field, "%q is not an RFC 3339 time (like 2026-01-31T00:00:00Z)", s)
	}
	t = t.UTC()
	return &t, nil
}

// maxSeconds bounds every duration the API accepts (a century), far from
// where time.Duration overflows.
const maxSeconds = 100 * 365 * 24 * 3600

func seconds(n int64, field string) (time.Duration, error) {
	if n < 0 || n > maxSeconds {
		return 0, invalid(field, "must be 0 to %d seconds", int64(maxSeconds))
	}
	return time.Duration(n) * time.Second, nil
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// errUnchanged, returned from an update function, means the change asked
// for is already in place: nothing is written and no event recorded, so
// that retrying a command is harmless and the trail shows only changes.
var errUnchanged = errors.New("admin: unchanged")

// statusParam reads ?status=, accepting only the statuses given.
func statusParam(r *http.Request, allowed ...store.Status) (store.Status, error) {
	s := store.Status(r.URL.Query().Get("status"))
	if s == "" {
		return "", nil
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return "", invalid("status", "must be one of %s", strings.Join(names, ", "))
}
