package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/authz/authz/store"
)

// errTxAborted is returned by every statement of a transaction after one of
// its statements failed in the database. PostgreSQL refuses to go on in such
// a transaction; sqlstore makes SQLite behave the same, so that code tested
// on one backend does not break on the other.
var errTxAborted = errors.New("transaction aborted by an earlier error; return the error so that it rolls back")

// translate turns err, met while doing op, into the error callers see: a
// wrapped store sentinel when it is one of them, otherwise a plain error
// whose text keeps the cause but whose chain holds no driver type.
func (d *Dialect) translate(ctx context.Context, op string, err error) error {
	op = d.Name + ": " + op
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The database did not answer in time: to the caller that is the
		// database being unavailable, whatever the driver made of it.
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, context.DeadlineExceeded)
	}
	if errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%s: %w", op, context.Canceled)
	}
	if d.Classify != nil {
		if sentinel := d.Classify(err); sentinel != nil {
			return fmt.Errorf("%s: %w (%s)", op, sentinel, err.Error())
		}
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %w (%s)", op, store.ErrUnavailable, err.Error())
	}
	return fmt.Errorf("%s: %s", op, err.Error())
}

// isUnavailable recognises the ways any database/sql driver says that the
// database cannot be reached.
func isUnavailable(err error) bool {
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// database/sql reports a closed *sql.DB with an unexported error value.
	return err.Error() == "sql: database is closed"
}
