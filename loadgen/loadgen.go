package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what one request of a run does.
type Mode string

const (
	// ClientCredentials asks the token endpoint for a token (RFC 6749 §4.4).
	ClientCredentials Mode = "cc"
	// Exchange exchanges a legacy API key for a token (RFC 8693), as the
	// key holder: the key is the credential, no client authenticates.
	Exchange Mode = "exchange"
	// Verify verifies access tokens locally against the issuer's JWKS,
	// fetched once, as a gateway does. Tokens are obtained by client
	// credentials outside the timed section; no timed work leaves the
	// process.
	Verify Mode = "verify"
)

// ParseMode accepts the names used on the command line.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ClientCredentials, Exchange, Verify:
		return m, nil
	}
	return "", fmt.Errorf("mode %q: use cc, exchange or verify", s)
}

// Config describes a run. A run ends when Duration has passed or Requests
// requests have completed, whichever comes first; at least one of them
// must be set.
type Config struct {
	// Issuer is the authorization server's issuer URL; its endpoints are
	// read from its RFC 8414 metadata.
	Issuer string
	// ClientID and ClientSecret authenticate client-credentials requests
	// (client_secret_basic); Verify uses them to obtain its tokens.
	ClientID     string
	ClientSecret string
	// APIKey is the legacy key Exchange presents as subject_token.
	APIKey string
	// SubjectTokenType is Exchange's subject_token_type (default: the
	// first of the metadata's subject_token_types_supported, else
	// urn:authz:token-type:api-key).
	SubjectTokenType string
	// Scope, if set, is requested on every token request.
	Scope string

	Mode        Mode
	Concurrency int
	Duration    time.Duration
	Requests    int64
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// HTTPClient is used for every request (default: a keep-alive
	// HTTP/1.1 client with an idle connection per worker).
	HTTPClient *http.Client
	// Progress, if set, receives a progress line once a second,
	// rewritten in place with \r: give it a terminal only.
	Progress io.Writer
	// Now is the clock for the run's duration and latencies (default
	// time.Now).
	Now func() time.Time

	// progressEvery is the progress line's period (default 1 s; tests
	// shorten it).
	progressEvery time.Duration
}

// Result is the outcome of a run.
type Result struct {
	Mode        Mode
	Concurrency int
	// Requests is the number of requests that completed, refused or not.
	Requests int64
	// Failed is how many of them did not yield a token (or, for Verify,
	// did not verify); Errors splits them by error_code.
	Failed int64
	Errors map[string]int64
	// Elapsed runs from the first request's start to the last one's end.
	Elapsed time.Duration
	// Latency holds every completed request's latency.
	Latency *Histogram
}

// RequestsPerSecond is completed requests over elapsed time.
func (r *Result) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// run is one Run in progress.
type run struct {
	cfg     Config
	target  *target
	start   time.Time
	tickets atomic.Int64
	done    atomic.Int64
	failed  atomic.Int64
}

// worker is one concurrent client's state: its own histogram, error
// counts and response buffer, so the hot loop shares nothing but counters.
type worker struct {
	hist   *Histogram
	errors map[string]int64
	buf    []byte
	// Verify mode: the token being verified and when it expires.
	token   string
	expires time.Time
}

// Run performs a run and returns its result. Cancelling ctx stops it
// early; requests cut short by the cancellation are not counted.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(cfg.Concurrency, cfg.Timeout)
	}
	t, err := newTarget(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, target: t}
	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = &worker{hist: NewHistogram(), errors: map[string]int64{}, buf: make([]byte, 0, 4096)}
		if cfg.Mode == Verify {
			// Tokens are fetched before the clock starts: only
			// verification is timed.
			if err := t.renew(ctx, workers[i], cfg.Now()); err != nil {
				return nil, err
			}
		}
	}

	r.start = cfg.Now()
	stopProgress := r.progress()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { r.loop(ctx, w) })
	}
	wg.Wait()
	end := cfg.Now()
	stopProgress()

	res := &Result{Mode: cfg.Mode, Concurrency: cfg.Concurrency, Errors: map[string]int64{}, Elapsed: end.Sub(r.start), Latency: NewHistogram()}
	for _, w := range workers {
		res.Latency.Merge(w.hist)
		for code, n := range w.errors {
			res.Errors[code] += n
			res.Failed += n
		}
	}
	res.Requests = int64(res.Latency.Count())
	if res.Requests == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return res, nil
}

func (c *Config) check() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("the issuer URL is required"))
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		errs = append(errs, err)
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d: must be at least 1", c.Concurrency))
	}
	if c.Duration < 0 || c.Requests < 0 {
		errs = append(errs, errors.New("duration and requests must not be negative"))
	}
	if c.Duration == 0 && c.Requests == 0 {
		errs = append(errs, errors.New("give a duration, a request count or both: a run must end"))
	}
	switch c.Mode {
	case ClientCredentials, Verify:
		if c.ClientID == "" || c.ClientSecret == "" {
			errs = append(errs, fmt.Errorf("mode %s needs a client id and secret", c.Mode))
		}
	case Exchange:
		if c.APIKey == "" {
			errs = append(errs, errors.New("mode exchange needs a legacy API key"))
		}
	}
	return errors.Join(errs...)
}

// loop issues requests until the run is over. The stop conditions are
// checked before a request starts, never during one, so a run bounded by
// time ends with its in-flight requests completed and counted.
func (r *run) loop(ctx context.Context, w *worker) {
	for ctx.Err() == nil {
		if r.cfg.Duration > 0 && r.cfg.Now().Sub(r.start) >= r.cfg.Duration {
			return
		}
		if r.cfg.Requests > 0 && r.tickets.Add(1) > r.cfg.Requests {
			return
		}
		code, lat := r.target.do(ctx, w)
		if ctx.Err() != nil {
			return
		}
		w.hist.Record(lat)
		r.done.Add(1)
		if code != "" {
			w.errors[code]++
			r.failed.Add(1)
		}
	}
}

// progress prints a progress line every second until the returned
// function is called, which erases it.
func (r *run) progress() (stop func()) {
	out := r.cfg.Progress
	if out == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		every := r.cfg.progressEvery
		if every <= 0 {
			every = time.Second
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(out, "\r\x1b[K")
				return
			case <-tick.C:
				el := r.cfg.Now().Sub(r.start)
				n := r.done.Load()
				fmt.Fprintf(out, "\r%s  %6.1f s  %10d requests  %9.0f req/s  %d errors\x1b[K",
					r.cfg.Mode, el.Seconds(), n, float64(n)/max(el.Seconds(), 1e-9), r.failed.Load())
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

// NewHTTPClient returns the client a run uses by default: HTTP/1.1 with
// keep-alive and an idle connection kept for each of concurrency workers,
// so that a run measures requests, not TCP handshakes.
func NewHTTPClient(concurrency int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A redirect is an answer to count, not to follow: credentials
		// must not travel anywhere the metadata did not name.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
