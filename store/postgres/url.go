package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// targetSessionAttrs are the values libpq and pgx accept.
var targetSessionAttrs = []string{"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}

// CheckURL checks the parts of a postgres:// URL that pgx would accept but
// that are almost certainly a mistake, or that pgx reports in words an
// operator cannot act on: its host list (postgres://h1:5432,h2:5432/db) and
// target_session_attrs. Keyword/value DSNs ("host=... dbname=...") are left
// to pgx. The error names the position of the faulty host, never its text:
// in a malformed URL a password can end up where a host was expected.
func CheckURL(dsn string) error {
	rest, ok := strings.CutPrefix(dsn, "postgres://")
	if !ok {
		if rest, ok = strings.CutPrefix(dsn, "postgresql://"); !ok {
			return nil
		}
	}
	netloc, query := rest, ""
	if i := strings.IndexAny(netloc, "/?"); i >= 0 {
		netloc = rest[:i]
		if j := strings.IndexByte(rest, '?'); j >= 0 {
			query = rest[j+1:]
		}
	}
	// Like libpq, userinfo ends at the last '@' before the path.
	if i := strings.LastIndexByte(netloc, '@'); i >= 0 {
		netloc = netloc[i+1:]
	}
	const form = "write postgres://USER@HOST1:PORT1,HOST2:PORT2/DB"
	if netloc != "" {
		hosts := strings.Split(netloc, ",")
		for i, h := range hosts {
			pos := fmt.Sprintf("host %d of %d", i+1, len(hosts))
			if len(hosts) == 1 {
				pos = "the host"
			}
			if h == "" {
				return fmt.Errorf("%s in the host list is empty (a stray comma?); %s", pos, form)
			}
			host, port := h, ""
			if strings.HasPrefix(h, "[") {
				end := strings.IndexByte(h, ']')
				if end < 0 {
					return fmt.Errorf("%s opens an IPv6 address with [ but never closes it; %s", pos, form)
				}
				host, port = h[:end+1], strings.TrimPrefix(h[end+1:], ":")
				if h[end+1:] != "" && !strings.HasPrefix(h[end+1:], ":") {
					return fmt.Errorf("%s has text after its IPv6 address that is not :PORT; %s", pos, form)
				}
			} else if k := strings.IndexByte(h, ':'); k >= 0 {
				host, port = h[:k], h[k+1:]
			}
			if host == "" {
				return fmt.Errorf("%s has a port but no host name; %s", pos, form)
			}
			if port != "" || strings.HasSuffix(h, ":") {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					return fmt.Errorf("%s has a port that is not a number from 1 to 65535; %s", pos, form)
				}
			}
		}
	}
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "target_session_attrs" {
			if !slices.Contains(targetSessionAttrs, v) {
				return errors.New("target_session_attrs must be one of " + strings.Join(targetSessionAttrs, ", ") +
					" (read-write, the default with several hosts, finds the primary)")
			}
		}
	}
	return nil
}
