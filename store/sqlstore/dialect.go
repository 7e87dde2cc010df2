package sqlstore

import (
	"database/sql/driver"
	"fmt"
	"strconv"
	"time"
)

// Dialect is what differs between the SQL databases sqlstore runs on. The
// backends construct one; the zero value of an optional field means "this
// database does not need it".
type Dialect struct {
	// Name is the backend's name, as Store.Backend reports it.
	Name string

	// EncodeTime turns a time into a query argument. It receives the time
	// already truncated to microseconds and in UTC. Nil passes the
	// time.Time as is (PostgreSQL timestamptz).
	EncodeTime func(time.Time) any

	// Classify maps a driver error to store.ErrConflict, store.ErrNotFound
	// (a foreign key naming a row that does not exist) or
	// store.ErrUnavailable, or returns nil when the error is none of those.
	// Errors that every database/sql driver shares (context, closed pool,
	// network) are recognised by sqlstore itself.
	Classify func(error) error

	// ForUpdate is appended to the SELECT of a read-modify-write, e.g.
	// " FOR UPDATE". Empty where the transaction already holds the write
	// lock (SQLite's BEGIN IMMEDIATE).
	ForUpdate string
	// SkipLocked is appended to the SELECT that claims webhooks, e.g.
	// " FOR UPDATE SKIP LOCKED", so that concurrent claimers pass each other.
	SkipLocked string

	// LockSigningKeys and LockStatusIndex are statements that serialise,
	// until the transaction ends, changes to signing keys and the
	// allocation of status-list indices across every process sharing the
	// database (PostgreSQL: pg_advisory_xact_lock). Empty where write
	// transactions are already serial.
	LockSigningKeys string
	LockStatusIndex string

	// Notify runs in every transaction that moves Generation, so that other
	// replicas learn of the change at commit (PostgreSQL: pg_notify).
	Notify string

	// InSet is how a column is matched against the rows of a subquery
	// whose size the planner must not guess, as a format of the column
	// and the subquery: "%s IN (%s)" when empty; PostgreSQL's
	// "%s = ANY(ARRAY(%s))" makes it one value computed first, looked up
	// by index row by row.
	InSet string

	// MaxParams is the most bind parameters one statement may carry; bulk
	// inserts are chunked to fit.
	MaxParams int
	// BulkPlaceholder, when set, replaces "$n" in multi-row inserts.
	// SQLite looks numbered and named parameters up by a linear scan, which
	// makes a statement with thousands of them quadratic to prepare; its
	// anonymous "?" binds the same arguments in order, in linear time.
	BulkPlaceholder string
	// RowByRowInserts makes bulk inserts run one prepared one-row INSERT
	// per row instead of multi-row statements. On SQLite a statement that
	// writes several rows and may abort (any NOT NULL column) keeps a
	// statement journal: every page it first touches is copied to a
	// temporary file, which was the largest single cost of a bulk import
	// (issue 19: about a fifth of the CPU). A one-row INSERT needs none,
	// and a prepared statement costs little per row in process.
	RowByRowInserts bool
	// ArrayInserts makes bulk inserts of legacy keys one statement per
	// batch whose 21 parameters are arrays, one per column, unnested into
	// rows (PostgreSQL): the statement is parsed and planned once, and
	// each row costs its values, not 21 bind parameters of a statement
	// of 3,000 rows re-planned every time.
	ArrayInserts bool
	// TallyInserts makes the store add the keys it inserts to
	// legacy_key_tally itself, the schema's triggers keeping it for
	// updates and deletes only (SQLite: with a row trigger on INSERT every
	// one-row insert of a bulk import keeps a statement journal, a copy of
	// every page it first touches, which measured a third of a
	// million-key import's CPU).
	TallyInserts bool
	// AnalyzeKeys, when set, refreshes the planner's statistics of
	// legacy_keys after large bulk inserts (see Store.afterBulkInsert);
	// KeysEstimate answers the planner's current estimate of its rows.
	AnalyzeKeys, KeysEstimate string
	// AppendInOneStatement makes Store.AppendAudit one statement run on
	// its own, without BEGIN and COMMIT: a data-modifying WITH that moves
	// the head and inserts the events (PostgreSQL; see
	// appendAuditStatement). Without it AppendAudit is a transaction of
	// the conditional move and the inserts.
	AppendInOneStatement bool
	// PrepareStatements prepares the audit group commit's statements once
	// per process (see prepared_tx.go). SQLite parses every statement it is
	// given anew; pgx caches its prepared statements by itself.
	PrepareStatements bool
	// UncancelledStatements runs the statements of a write transaction,
	// its BEGIN and its COMMIT under a context that cannot be cancelled,
	// checking the caller's context between them instead (see
	// uncancelled). modernc's SQLite driver starts a watcher goroutine for
	// every statement whose context can be cancelled; on the audit group
	// commit that was about a tenth of a token's CPU. A write statement on
	// SQLite's one writer is short, and the one wait it can enter, for
	// another process's lock, is bounded by busy_timeout. The wait for the
	// writer connection itself stays cancellable.
	UncancelledStatements bool
	// BulkCache, when set, runs at the start of a bulk insert's
	// transaction to raise the connection's page cache for it, and
	// ReleaseCache runs on the writer once that transaction has ended to
	// lower it again and free what it held (SQLite; see store/sqlite).
	BulkCache    string
	ReleaseCache []string
}

// inSet matches column against the rows of subquery (see InSet).
func (d *Dialect) inSet(column, subquery string) string {
	if d.InSet == "" {
		return column + " IN (" + subquery + ")"
	}
	return fmt.Sprintf(d.InSet, column, subquery)
}

// encodeTime is the query argument for t: microsecond precision, UTC.
func (d *Dialect) encodeTime(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if d.EncodeTime == nil {
		return t
	}
	return d.EncodeTime(t)
}

// encodeNullTime is encodeTime for an optional time; nil is SQL NULL.
func (d *Dialect) encodeNullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.encodeTime(*t)
}

// UnixMicro is an EncodeTime for databases without a time type (SQLite):
// an INTEGER of microseconds since the Unix epoch. It sorts and compares
// like the time it stands for.
func UnixMicro(t time.Time) any { return t.UnixMicro() }

// timeCol scans a time column of either encoding: a driver time.Time
// (PostgreSQL timestamptz) or an integer of Unix microseconds (SQLite).
// NULL leaves Valid false. The result is always UTC.
type timeCol struct {
	T     time.Time
	Valid bool
}

func (c *timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = timeCol{}
	case time.Time:
		*c = timeCol{T: v.UTC(), Valid: true}
	case int64:
		*c = timeCol{T: time.UnixMicro(v).UTC(), Valid: true}
	case []byte:
		return c.Scan(string(v))
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("sqlstore: time column holds %q, not unix microseconds", v)
		}
		*c = timeCol{T: time.UnixMicro(n).UTC(), Valid: true}
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

// ptr returns the time, or nil for NULL.
func (c timeCol) ptr() *time.Time {
	if !c.Valid {
		return nil
	}
	t := c.T
	return &t
}

var _ driver.Valuer = nullString("")

// nullString writes "" as an empty string and reads NULL as "": text columns
// that a LEFT JOIN may leave empty.
type nullString string

func (s nullString) Value() (driver.Value, error) { return string(s), nil }

func (s *nullString) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s = ""
	case string:
		*s = nullString(v)
	case []byte:
		*s = nullString(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a string", src)
	}
	return nil
}
