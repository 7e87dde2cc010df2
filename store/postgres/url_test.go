package postgres_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/postgres"
)

func TestCheckURL(t *testing.T) {
	for _, dsn := range []string{
		"postgres://authz@db:5432/authz",
		"postgres://authz:pw@h1:5432,h2:5433/authz?target_session_attrs=read-write",
		"postgresql://h1,h2,h3/authz?target_session_attrs=primary",
		"postgres://[::1]:5432,[fe80::1]/authz",
		"postgres:///authz?host=/run/postgresql",
		"postgres://u:p@/authz",
		"host=h1,h2 port=5432,5433 dbname=authz", // keyword/value: pgx's to judge
	} {
		if err := postgres.CheckURL(dsn); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", dsn, err)
		}
	}
	const form = "; write postgres://USER@HOST1:PORT1,HOST2:PORT2/DB"
	for _, c := range []struct{ dsn, want string }{
		{"postgres://u:s3cret@h1:5432,,h2:5432/authz", "host 2 of 3 in the host list is empty (a stray comma?)" + form},
		{"postgres://u:s3cret@h1:5432,/authz", "host 2 of 2 in the host list is empty (a stray comma?)" + form},
		{"postgres://u:s3cret@h1:5432,h2:notaport/authz", "host 2 of 2 has a port that is not a number from 1 to 65535" + form},
		{"postgres://u:s3cret@h1:70000/authz", "the host has a port that is not a number from 1 to 65535" + form},
		{"postgres://u:s3cret@h1:,h2/authz", "host 1 of 2 has a port that is not a number from 1 to 65535" + form},
		{"postgres://u:s3cret@:5432,h2/authz", "host 1 of 2 has a port but no host name" + form},
		{"postgres://u:s3cret@[::1,h2/authz", "host 1 of 2 opens an IPv6 address with [ but never closes it" + form},
		{"postgres://u:s3cret@[::1]x,h2/authz", "host 1 of 2 has text after its IPv6 address that is not :PORT" + form},
		{"postgres://u:s3cret@h1,h2/authz?target_session_attrs=readwrite",
			"target_session_attrs must be one of any, read-write, read-only, primary, standby, prefer-standby (read-write, the default with several hosts, finds the primary)"},
	} {
		err := postgres.CheckURL(c.dsn)
		if err == nil || err.Error() != c.want {
			t.Errorf("CheckURL(%q):\n got %v\nwant %s", c.dsn, err, c.want)
		}
		// Open refuses it before connecting anywhere, naming the setting.
		_, err = postgres.Open(t.Context(), c.dsn)
		if err == nil || err.Error() != "postgres: invalid --database / AUTHZ_DATABASE: "+c.want {
			t.Errorf("Open(%q):\n got %v", c.dsn, err)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cret") || errors.Is(err, store.ErrUnavailable)) {
			t.Errorf("Open(%q): %v echoes the password or reads as an outage", c.dsn, err)
		}
		_, err = postgres.Open(t.Context(), "postgres://127.0.0.1:1/authz", postgres.WithListenURL(c.dsn))
		if err == nil || err.Error() != "postgres: invalid --database-listen-url / AUTHZ_DATABASE_LISTEN_URL: "+c.want {
			t.Errorf("Open with listen URL %q:\n got %v", c.dsn, err)
		}
	}
}

// TestOpenHostListUnreachable: every host of the list is named.
func TestOpenHostListUnreachable(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://authz:s3cret@127.0.0.1:1,127.0.0.1:2/authz?sslmode=disable")
	want := "cannot reach PostgreSQL at 127.0.0.1:1,127.0.0.1:2: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; check --database / AUTHZ_DATABASE") ||
		strings.Contains(err.Error(), "s3cret") || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("unreachable host list: %v\nwant %s...", err, want)
	}
}

// checkURLWords is every fixed text CheckURL's messages are made of.
const checkURLWords = "host of the host list is empty (a stray comma?); write postgres://USER@HOST1:PORT1,HOST2:PORT2/DB " +
	"has a port that is not a number from 1 to 65535 has a port but no host name opens an IPv6 address with [ but never closes it " +
	"has text after its IPv6 address that is not :PORT target_session_attrs must be one of any, read-write, read-only, primary, " +
	"standby, prefer-standby (read-write, the default with several hosts, finds the primary)"

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"postgres://h1,h2/db", "postgres://u:p@[::1]:5,h:6/db?target_session_attrs=any", "postgresql://,", "postgres://[", "x",
		"postgres://u:pass/word@h1,,h2/db", "postgres://u:secret@h1:99999/db"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		err := postgres.CheckURL(dsn)
		if err == nil {
			return
		}
		// The message is built from positions and fixed words, never from
		// the URL's text: a password can land where a host was expected.
		msg := err.Error()
		for _, prefix := range []string{"postgres://", "postgresql://"} {
			rest, ok := strings.CutPrefix(dsn, prefix)
			if !ok {
				continue
			}
			if i := strings.IndexAny(rest, "/?"); i >= 0 {
				rest = rest[:i]
			}
			for _, part := range strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == '@' || r == ':' }) {
				if len(part) >= 6 && strings.Contains(msg, part) && !strings.Contains(checkURLWords, part) {
					t.Fatalf("CheckURL(%q) = %q quotes %q from the URL", dsn, msg, part)
				}
			}
		}
	})
}
