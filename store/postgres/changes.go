package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnect backoff of the change feed.
const (
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 5 * time.Second
)

// A feed that has heard nothing for feedQuiet pings its server: a primary
// that vanished without closing the socket (a partition, a host that lost
// power) would otherwise leave the replica listening to nothing until TCP
// keepalive gives up, minutes later. feedPingTimeout bounds the ping.
const (
	feedQuiet       = 10 * time.Second
	feedPingTimeout = 5 * time.Second
)

// changes implements store.Store.Changes: a dedicated connection LISTENs on
// ChangesChannel and turns notifications into signals on a channel of
// capacity one, so a burst of changes coalesces into one pending signal.
//
// A signal is also sent each time the feed (re)starts listening, because
// changes committed while it was not listening were missed: the caller
// should re-check Generation then. The channel closes when ctx ends or the
// Store closes.
func (s *Store) changes(ctx context.Context) <-chan struct{} {
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.stop, cancel)
	ch := make(chan struct{}, 1)
	go func() {
		defer unhook()
		defer cancel()
		defer close(ch)
		retry := feedRetryMin
		lost := false
		for {
			err := s.listen(ctx, ch, func(host string) {
				retry = feedRetryMin
				if lost {
					s.log.InfoContext(ctx, "change feed listening again", "host", host)
					lost = false
				}
			})
			if ctx.Err() != nil {
				return
			}
			s.log.WarnContext(ctx, "change feed lost its connection; reconnecting",
				"err", redact(innermost(err), s.connCfg.Password), "retry_in", retry)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			lost = true
			retry = min(2*retry, feedRetryMax)
		}
	}()
	return ch
}

// listen holds one LISTEN connection until it fails or ctx ends. The
// connection goes through the host list like the pool's, so after a
// failover it finds the new primary (a standby refuses LISTEN, and
// target_session_attrs=read-write skips it).
func (s *Store) listen(ctx context.Context, ch chan<- struct{}, connected func(host string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+ChangesChannel); err != nil {
		return err
	}
	connected(conn.PgConn().Conn().RemoteAddr().String())
	signal(ch)
	for {
		wait, cancel := context.WithTimeout(ctx, feedQuiet)
		_, err := conn.WaitForNotification(wait)
		cancel()
		if err == nil {
			signal(ch)
			continue
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// A deadline leaves pgx's connection usable (it closes only on
		// other errors); a ping proves the server is still there.
		ping, cancel := context.WithTimeout(ctx, feedPingTimeout)
		err = conn.Ping(ping)
		cancel()
		if err != nil {
			return err
		}
	}
}

// signal leaves one value pending without ever blocking.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
