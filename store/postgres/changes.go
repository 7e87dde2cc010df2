package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnect backoff of the change feed.
const (
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 5 * time.Second
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
		for {
			err := s.listen(ctx, ch, func() { retry = feedRetryMin })
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
			retry = min(2*retry, feedRetryMax)
		}
	}()
	return ch
}

// listen holds one LISTEN connection until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, ch chan<- struct{}, connected func()) error {
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
	connected()
	signal(ch)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		signal(ch)
	}
}

// signal leaves one value pending without ever blocking.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
