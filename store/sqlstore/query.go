package sqlstore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/authz/authz/store"
)

// where builds a WHERE clause with numbered placeholders, so that optional
// filters never mean string-formatting values into SQL.
type where struct {
	conds []string
	args  []any
}

// add appends cond; each "?" in it becomes the placeholder of the next arg.
func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		cond = strings.Replace(cond, "?", w.arg(a), 1)
	}
	w.conds = append(w.conds, cond)
}

// eq adds "col = v" unless v is empty (a zero filter field matches all).
func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ?", v)
	}
}

// arg appends a value and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// limitOf applies store.Page's default and cap.
func limitOf(p store.Page) int {
	switch {
	case p.Limit <= 0:
		return store.DefaultLimit
	case p.Limit > store.MaxLimit:
		return store.MaxLimit
	}
	return p.Limit
}

// pageOf cuts a listing fetched with limit+1 rows down to limit and returns
// the cursor of the next page, "" when this was the last one.
func pageOf[T any](items []T, limit int, key func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, key(items[limit-1])
}

// jsonText encodes a list for a JSON column. nil and empty stay distinct
// ("null" and "[]"), so that what was written is what is read.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode JSON column: %w", err)
	}
	return string(b), nil
}

// mustJSON is jsonText for values that cannot fail to encode ([]string).
func mustJSON(v []string) string {
	b, _ := json.Marshal(v) // a []string always encodes
	return string(b)
}

// jsonCol scans a JSON column into Dst. NULL leaves Dst untouched.
type jsonCol struct{ Dst any }

func (c jsonCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("cannot scan %T into a JSON column", src)
	}
	if err := json.Unmarshal(b, c.Dst); err != nil {
		return fmt.Errorf("decode JSON column: %w", err)
	}
	return nil
}

// bytesCol scans a BLOB/bytea column, keeping NULL as nil and copying the
// driver's buffer.
type bytesCol struct{ Dst *[]byte }

func (c bytesCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.Dst = nil
	case []byte:
		*c.Dst = append([]byte{}, v...)
	case string:
		*c.Dst = []byte(v)
	default:
		return fmt.Errorf("cannot scan %T into bytes", src)
	}
	return nil
}

// nullBytes passes nil as SQL NULL and anything else, even empty, as bytes.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// bulkInsert returns head, then rows groups of k placeholders, then tail:
// a multi-row INSERT.
func (d *Dialect) bulkInsert(head string, rows, k int, tail string) string {
	var b strings.Builder
	b.Grow(len(head) + len(tail) + rows*k*7)
	b.WriteString(head)
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for i := 1; i <= k; i++ {
			if i > 1 {
				b.WriteByte(',')
			}
			if d.BulkPlaceholder != "" {
				b.WriteString(d.BulkPlaceholder)
				continue
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(r*k + i))
		}
		b.WriteByte(')')
	}
	b.WriteString(tail)
	return b.String()
}
