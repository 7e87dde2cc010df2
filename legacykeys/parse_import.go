package legacykeys

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/authz/authz/errcode"
)

// ImportRow is one key of an import file. Problem, when set, says why the
// row cannot be imported; Import reports such rows as rejected with their
// line number. Rows travel from the CLI to the admin API in this JSON form.
type ImportRow struct {
	Line            int        `json:"line"`
	Key             string     `json:"key,omitempty"`
	KeySHA256       string     `json:"key_sha256,omitempty"`
	OwnerExternalID string     `json:"owner_external_id,omitempty"`
	OwnerID         string     `json:"owner_id,omitempty"`
	Tenant          string     `json:"tenant"`
	Scopes          []string   `json:"scopes,omitempty"`
	Label           string     `json:"label,omitempty"`
	Environment     string     `json:"environment,omitempty"`
	CreatedAt       *time.Time `json:"created_at,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	Problem         string     `json:"problem,omitempty"`
}

// Import file columns (CSV header names, JSONL member names).
const (
	colKey             = "key"
	colKeySHA256       = "key_sha256"
	colOwnerExternalID = "owner_external_id"
	colOwnerID         = "owner_id"
	colTenant          = "tenant"
	colScopes          = "scopes"
	colLabel           = "label"
	colEnvironment     = "environment"
	colCreatedAt       = "created_at"
	colExpiresAt       = "expires_at"
)

var importColumns = []string{colKey, colKeySHA256, colOwnerExternalID, colOwnerID, colTenant, colScopes, colLabel, colEnvironment, colCreatedAt, colExpiresAt}

// maxLine bounds one JSONL line; a longer one is rejected, not buffered.
const maxLine = 64 << 10

// ParseImport reads an import file and calls fn for every row, in order,
// with its line number; rows that cannot be imported carry a Problem rather
// than stopping the parse, so one run reports every bad line. format is
// "csv", "jsonl" or "" to tell by the first character ('{' is JSONL).
//
// CSV has a header naming its columns (any order; key or key_sha256,
// owner_external_id or owner_id, and tenant are required). scopes are
// space-separated in CSV, an array or a space-separated string in JSONL.
// Times are RFC 3339, "2006-01-02 15:04:05" or a date (UTC), or Unix
// seconds. The error is about the file as a whole (unreadable, bad header)
// or is fn's.
func ParseImport(r io.Reader, format string, fn func(ImportRow) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if err := skipBOM(br); err != nil {
		return err
	}
	if format == "" {
		var err error
		if format, err = sniff(br); err != nil {
			return err
		}
	}
	switch strings.ToLower(format) {
	case "csv":
		return parseImportCSV(br, fn)
	case "jsonl", "ndjson":
		return parseImportJSONL(br, fn)
	}
	return errcode.Newf(errcode.RequestInvalid, "unknown import format %q; use csv or jsonl", format)
}

func skipBOM(br *bufio.Reader) error {
	b, err := br.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("legacykeys: read import file: %w", err)
	}
	if bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	return nil
}

// sniff looks at the first non-blank byte.
func sniff(br *bufio.Reader) (string, error) {
	for n := 1; n <= 4096; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if err != nil && !errors.Is(err, io.EOF) {
				return "", fmt.Errorf("legacykeys: read import file: %w", err)
			}
			return "csv", nil // empty or blank: the CSV parser reports it
		}
		switch b[n-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return "jsonl", nil
		}
		return "csv", nil
	}
	return "csv", nil
}

func parseImportCSV(br *bufio.Reader, fn func(ImportRow) error) error {
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return errcode.New(errcode.RequestInvalid, "the import file is empty; it needs a header line naming its columns")
	}
	if err != nil {
		return errcode.Wrap(errcode.RequestInvalid, err, "the import file's header line is not valid CSV")
	}
	idx, err := importHeader(header)
	if err != nil {
		return err
	}
	field := func(rec []string, col string) string {
		if i, ok := idx[col]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	lastErrLine := -1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var row ImportRow
		var pe *csv.ParseError
		switch {
		case err == nil:
			row.Line, _ = cr.FieldPos(0)
		case errors.As(err, &pe) && errors.Is(err, csv.ErrFieldCount):
			row.Line = pe.StartLine
			row.Problem = fmt.Sprintf("has %d fields, the header has %d", len(rec), len(header))
		case errors.As(err, &pe):
			if pe.StartLine == lastErrLine {
				return errcode.Wrap(errcode.RequestInvalid, err, fmt.Sprintf("line %d: the CSV cannot be read past this point", pe.StartLine))
			}
			lastErrLine = pe.StartLine
			if err := fn(ImportRow{Line: pe.StartLine, Problem: "is not valid CSV: " + pe.Err.Error()}); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("legacykeys: read import file: %w", err)
		}
		if row.Problem == "" {
			row, row.Problem = csvRow(row.Line, func(col string) string { return field(rec, col) })
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// importHeader maps column names to positions, refusing unknown or
// repeated columns (a misspelt column would otherwise be silently empty).
func importHeader(header []string) (map[string]int, error) {
	idx := make(map[string]int, len(header))
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if !knownColumn(name) {
			return nil, errcode.Newf(errcode.RequestInvalid, "line 1: unknown column %q; the columns are %s", h, strings.Join(importColumns, ", "))
		}
		if _, dup := idx[name]; dup {
			return nil, errcode.Newf(errcode.RequestInvalid, "line 1: column %q appears twice", name)
		}
		idx[name] = i
	}
	_, key := idx[colKey]
	_, sum := idx[colKeySHA256]
	_, ext := idx[colOwnerExternalID]
	_, oid := idx[colOwnerID]
	_, ten := idx[colTenant]
	switch {
	case !key && !sum:
		return nil, errcode.New(errcode.RequestInvalid, "line 1: the header needs a key or a key_sha256 column")
	case !ext && !oid:
		return nil, errcode.New(errcode.RequestInvalid, "line 1: the header needs an owner_external_id or an owner_id column")
	case !ten:
		return nil, errcode.New(errcode.RequestInvalid, "line 1: the header needs a tenant column")
	}
	return idx, nil
}

func knownColumn(name string) bool {
	for _, c := range importColumns {
		if c == name {
			return true
		}
	}
	return false
}

// csvRow builds a row from named fields; the problem is the first thing
// wrong with it.
func csvRow(line int, get func(string) string) (ImportRow, string) {
	row := ImportRow{
		Line: line, Key: get(colKey), KeySHA256: get(colKeySHA256),
		OwnerExternalID: get(colOwnerExternalID), OwnerID: get(colOwnerID), Tenant: get(colTenant),
		Scopes: strings.Fields(get(colScopes)), Label: get(colLabel), Environment: get(colEnvironment),
	}
	var err error
	if row.CreatedAt, err = parseTime(colCreatedAt, get(colCreatedAt)); err != nil {
		return row, err.Error()
	}
	if row.ExpiresAt, err = parseTime(colExpiresAt, get(colExpiresAt)); err != nil {
		return row, err.Error()
	}
	return row, rowProblem(row)
}

// jsonRow is one JSONL line. Times and scopes are read leniently, like CSV.
type jsonRow struct {
	Key             string          `json:"key"`
	KeySHA256       string          `json:"key_sha256"`
	OwnerExternalID string          `json:"owner_external_id"`
	OwnerID         string          `json:"owner_id"`
	Tenant          string          `json:"tenant"`
	Scopes          json.RawMessage `json:"scopes"`
	Label           string          `json:"label"`
	Environment     string          `json:"environment"`
	CreatedAt       json.RawMessage `json:"created_at"`
	ExpiresAt       json.RawMessage `json:"expires_at"`
}

func parseImportJSONL(br *bufio.Reader, fn func(ImportRow) error) error {
	return eachLine(br, func(line int, b []byte, tooLong bool) error {
		if tooLong {
			return fn(ImportRow{Line: line, Problem: fmt.Sprintf("is longer than %d bytes", maxLine)})
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			return nil
		}
		return fn(jsonlRow(line, b))
	})
}

func jsonlRow(line int, b []byte) ImportRow {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j jsonRow
	if err := dec.Decode(&j); err != nil {
		return ImportRow{Line: line, Problem: "is not a valid JSON object of an import row: " + jsonProblem(err)}
	}
	if dec.More() {
		return ImportRow{Line: line, Problem: "has more than one JSON value; put one object per line"}
	}
	get := func(v string) string { return strings.TrimSpace(v) }
	row := ImportRow{
		Line: line, Key: get(j.Key), KeySHA256: get(j.KeySHA256), OwnerExternalID: get(j.OwnerExternalID),
		OwnerID: get(j.OwnerID), Tenant: get(j.Tenant), Label: get(j.Label), Environment: get(j.Environment),
	}
	var err error
	if row.Scopes, err = jsonScopes(j.Scopes); err != nil {
		row.Problem = err.Error()
		return row
	}
	for _, t := range []struct {
		col string
		raw json.RawMessage
		dst **time.Time
	}{{colCreatedAt, j.CreatedAt, &row.CreatedAt}, {colExpiresAt, j.ExpiresAt, &row.ExpiresAt}} {
		s, err := jsonScalar(t.col, t.raw)
		if err == nil {
			*t.dst, err = parseTime(t.col, s)
		}
		if err != nil {
			row.Problem = err.Error()
			return row
		}
	}
	row.Problem = rowProblem(row)
	return row
}

// jsonProblem keeps a decoding error short and free of the line's content
// (which holds a key).
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown member " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not an object"
}

func jsonScopes(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.Fields(s), nil
	}
	return nil, errors.New("scopes must be an array of strings or a space-separated string")
}

// jsonScalar accepts a string or a number (Unix seconds).
func jsonScalar(col string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%s must be a string or a number", col)
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// parseTime reads an import time; "" is no time.
func parseTime(col, s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 253402300799 { // 9999-12-31T23:59:59Z
			return nil, fmt.Errorf("%s: Unix time %d is out of range", col, n)
		}
		t := time.Unix(n, 0).UTC()
		return &t, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC().Truncate(time.Microsecond)
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%s: cannot read %q as a time; use RFC 3339 (2026-01-31T12:00:00Z), a date (2026-01-31) or Unix seconds", col, truncate(s, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// rowProblem checks what can be checked without the store. Import runs it
// again, since rows may come from an API caller rather than ParseImport.
func rowProblem(r ImportRow) string {
	switch {
	case r.Key != "" && r.KeySHA256 != "":
		return "has both key and key_sha256; give one"
	case r.Key == "" && r.KeySHA256 == "":
		return "has neither key nor key_sha256"
	case r.OwnerExternalID != "" && r.OwnerID != "":
		return "has both owner_external_id and owner_id; give one"
	case r.OwnerExternalID == "" && r.OwnerID == "":
		return "has neither owner_external_id nor owner_id"
	case r.Tenant == "":
		return "has no tenant"
	}
	if r.Key != "" {
		if _, err := Parse(r.Key); err != nil {
			return "key: " + errcode.Normalize(err).Text()
		}
	} else if !isHex64(r.KeySHA256) {
		return "key_sha256 must be the 64 hexadecimal characters of the key's SHA-256"
	}
	if len(r.OwnerExternalID) > maxRefLen || len(r.OwnerID) > maxRefLen || len(r.Tenant) > maxRefLen {
		return fmt.Sprintf("an owner or tenant reference is longer than %d bytes", maxRefLen)
	}
	if len(r.Scopes) > maxScopes {
		return fmt.Sprintf("lists %d scopes; at most %d", len(r.Scopes), maxScopes)
	}
	for _, sc := range r.Scopes {
		if p := scopeProblem(sc); p != "" {
			return p
		}
	}
	if err := checkText("label", r.Label, maxLabelLen); err != nil {
		return errcode.Normalize(err).Text()
	}
	if err := checkText("environment", r.Environment, maxEnvironmentLen); err != nil {
		return errcode.Normalize(err).Text()
	}
	if err := checkText("owner reference", r.OwnerExternalID+r.OwnerID+r.Tenant, 3*maxRefLen); err != nil {
		return errcode.Normalize(err).Text()
	}
	return ""
}

// maxRefLen bounds ids and external ids in import and remap files.
const maxRefLen = 256

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// eachLine calls fn for every line (1-based number, content without the
// line break). A line longer than maxLine is reported as tooLong and its
// content dropped, so that one huge line cannot exhaust memory.
func eachLine(br *bufio.Reader, fn func(line int, b []byte, tooLong bool) error) error {
	var buf []byte
	for line := 1; ; line++ {
		buf = buf[:0]
		tooLong := false
		for {
			chunk, isPrefix, err := br.ReadLine()
			if errors.Is(err, io.EOF) {
				if len(buf) > 0 || tooLong {
					return fn(line, buf, tooLong)
				}
				return nil
			}
			if err != nil {
				return fmt.Errorf("legacykeys: read line %d: %w", line, err)
			}
			if !tooLong {
				if len(buf)+len(chunk) > maxLine {
					tooLong, buf = true, buf[:0]
				} else {
					buf = append(buf, chunk...)
				}
			}
			if !isPrefix {
				break
			}
		}
		if err := fn(line, buf, tooLong); err != nil {
			return err
		}
	}
}
