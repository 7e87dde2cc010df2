package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// driverError stands for a driver's own error type, which must never be
// reachable through errors.As from what callers get.
type driverError struct{ code string }

func (e *driverError) Error() string { return "driver says " + e.code }

func TestTranslate(t *testing.T) {
	d := &Dialect{Name: "testdb", Classify: func(err error) error {
		var de *driverError
		if errors.As(err, &de) && de.code == "unique" {
			return store.ErrConflict
		}
		return nil
	}}
	live := context.Background()
	expired, cancel := context.WithDeadline(live, time.Unix(0, 0))
	defer cancel()
	canceled, cancel2 := context.WithCancel(live)
	cancel2()

	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want error // nil: none of the sentinels
	}{
		{"no rows", live, sql.ErrNoRows, store.ErrNotFound},
		{"unique violation", live, fmt.Errorf("exec: %w", &driverError{"unique"}), store.ErrConflict},
		{"other driver error", live, &driverError{"syntax"}, nil},
		{"deadline", expired, errors.New("driver: timeout"), store.ErrUnavailable},
		{"deadline error", live, context.DeadlineExceeded, store.ErrUnavailable},
		{"canceled", canceled, errors.New("driver: interrupted"), context.Canceled},
		{"connection refused", live, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, store.ErrUnavailable},
		{"reset", live, fmt.Errorf("read: %w", syscall.ECONNRESET), store.ErrUnavailable},
		{"eof", live, io.ErrUnexpectedEOF, store.ErrUnavailable},
		{"bad conn", live, driver.ErrBadConn, store.ErrUnavailable},
		{"conn done", live, sql.ErrConnDone, store.ErrUnavailable},
		{"closed db", live, errors.New("sql: database is closed"), store.ErrUnavailable},
	} {
		got := d.translate(c.ctx, "get thing \"x\"", c.err)
		if !strings.HasPrefix(got.Error(), `testdb: get thing "x": `) {
			t.Errorf("%s: %q does not say what was being done", c.name, got)
		}
		var de *driverError
		if errors.As(got, &de) {
			t.Errorf("%s: the driver's error type escaped: %v", c.name, got)
		}
		for _, s := range []error{store.ErrNotFound, store.ErrConflict, store.ErrUnavailable, context.Canceled} {
			if is := errors.Is(got, s); is != (s == c.want) {
				t.Errorf("%s: errors.Is(%q, %v) = %v", c.name, got, s, is)
			}
		}
	}
}

func TestPageOf(t *testing.T) {
	key := func(i int) string { return strconv.Itoa(i) }
	for _, c := range []struct {
		items, limit int
		wantLen      int
		wantNext     string
	}{
		{0, 3, 0, ""},
		{2, 3, 2, ""},
		{3, 3, 3, ""},
		{4, 3, 3, "2"},
	} {
		items := make([]int, c.items)
		for i := range items {
			items[i] = i
		}
		got, next := pageOf(items, c.limit, key)
		if len(got) != c.wantLen || next != c.wantNext {
			t.Errorf("pageOf(%d items, limit %d) = %d items, next %q", c.items, c.limit, len(got), next)
		}
	}
	for _, c := range []struct{ in, want int }{{0, store.DefaultLimit}, {-1, store.DefaultLimit}, {7, 7}, {store.MaxLimit + 1, store.MaxLimit}} {
		if got := limitOf(store.Page{Limit: c.in}); got != c.want {
			t.Errorf("limitOf(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestWhere(t *testing.T) {
	var w where
	w.eq("a", "x")
	w.eq("b", "") // a zero filter adds nothing
	w.add("(c > ? OR (c = ? AND d > ?))", 1, 1, 2)
	lim := w.arg(10)
	if got, want := w.sql()+" LIMIT "+lim, " WHERE a = $1 AND (c > $2 OR (c = $3 AND d > $4)) LIMIT $5"; got != want {
		t.Fatalf("where = %q, want %q", got, want)
	}
	if len(w.args) != 5 {
		t.Fatalf("%d args", len(w.args))
	}
}

func TestTimeColScan(t *testing.T) {
	want := time.Date(2031, 3, 14, 15, 9, 26, 535897000, time.UTC)
	for _, src := range []any{want, want.In(time.FixedZone("X", -7200)), want.UnixMicro(), strconv.FormatInt(want.UnixMicro(), 10), []byte(strconv.FormatInt(want.UnixMicro(), 10))} {
		var c timeCol
		if err := c.Scan(src); err != nil || !c.Valid || !c.T.Equal(want) || c.T.Location() != time.UTC {
			t.Errorf("Scan(%T %v) = %v %v, %v", src, src, c.T, c.Valid, err)
		}
	}
	var c timeCol
	if err := c.Scan(nil); err != nil || c.Valid || c.ptr() != nil {
		t.Errorf("Scan(nil) = %+v, %v", c, err)
	}
	for _, bad := range []any{"yesterday", 1.5, true} {
		if err := c.Scan(bad); err == nil {
			t.Errorf("Scan(%v) accepted", bad)
		}
	}
	d := Dialect{EncodeTime: UnixMicro}
	if got := d.encodeTime(want.Add(999 * time.Nanosecond)); got != want.UnixMicro() {
		t.Errorf("encodeTime does not truncate to microseconds: %v", got)
	}
}

// FuzzTimeColScan: whatever text a time column holds, Scan either fails or
// yields a UTC time that encodes back to the same integer.
func FuzzTimeColScan(f *testing.F) {
	for _, s := range []string{"0", "-1", "1931512166535897", "9223372036854775807", "-9223372036854775808", "", "x", "1e6", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var c timeCol
		if err := c.Scan(s); err != nil {
			return
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("Scan(%q) accepted a non-integer", s)
		}
		if c.T.Location() != time.UTC {
			t.Fatalf("Scan(%q) is not UTC", s)
		}
		if got := c.T.UnixMicro(); got != n {
			t.Fatalf("Scan(%q) = %v, which encodes as %d", s, c.T, got)
		}
	})
}

func TestBulkInsert(t *testing.T) {
	for _, c := range []struct {
		d    Dialect
		want string
	}{
		{Dialect{}, "INSERT INTO t VALUES ($1,$2),($3,$4),($5,$6) RETURNING id"},
		{Dialect{BulkPlaceholder: "?"}, "INSERT INTO t VALUES (?,?),(?,?),(?,?) RETURNING id"},
	} {
		if got := c.d.bulkInsert("INSERT INTO t VALUES ", 3, 2, " RETURNING id"); got != c.want {
			t.Errorf("bulkInsert = %q, want %q", got, c.want)
		}
	}
}
