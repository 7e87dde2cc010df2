package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	// DeliveryHeader carries the delivery id, the same on every retry:
	// receivers deduplicate on it.
	DeliveryHeader = "Authz-Delivery"
	// EventHeader carries the event type.
	EventHeader = "Authz-Event"
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA-256>".
	SignatureHeader = "Authz-Signature"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when VerifySignature is given no tolerance. It bounds
// how long a captured delivery can be replayed.
const DefaultTolerance = 5 * time.Minute

// maxSignatures bounds the v1 values a header may carry (a sender rotating
// its secret sends two), so that a hostile header cannot buy many HMACs.
const maxSignatures = 4

// ErrSignature is wrapped by every VerifySignature failure.
var ErrSignature = errors.New("notify: invalid webhook signature")

// Sign returns the Authz-Signature header value for body sent at t:
// t=<unix seconds>,v1=<hex HMAC-SHA-256(secret, "<unix seconds>.<body>")>.
// The timestamp is inside the MAC so that a receiver can refuse replays of
// old deliveries.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks an Authz-Signature header against the raw request
// body, for receivers: one of its v1 values must be the HMAC of the body
// under secret (compared in constant time), and its timestamp must be
// within tolerance of now (DefaultTolerance if tolerance <= 0). Verify
// before parsing the body. Unknown schemes (k=v pairs other than t and v1)
// are ignored, so that a future scheme can be sent alongside v1.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret to verify with", ErrSignature)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	v1s := 0
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: malformed header", ErrSignature)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one timestamp", ErrSignature)
			}
			ts = v
		case "v1":
			if v1s++; v1s > maxSignatures {
				return fmt.Errorf("%w: too many signatures", ErrSignature)
			}
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts[0] == '+' { // only the canonical form Sign writes
		return fmt.Errorf("%w: missing or malformed timestamp", ErrSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrSignature)
	}
	want := mac(secret, ts, body)
	match := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			match = true
		}
	}
	if !match {
		return fmt.Errorf("%w: signature does not match the body", ErrSignature)
	}
	// Compare in seconds, around now, so that an extreme timestamp cannot
	// overflow the arithmetic.
	nowSec, tol := now.Unix(), int64(tolerance/time.Second)
	if sec < nowSec-tol || sec > nowSec+tol {
		return fmt.Errorf("%w: timestamp outside the tolerance of %s", ErrSignature, tolerance)
	}
	return nil
}
