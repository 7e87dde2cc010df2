package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignMatchesDocumentedFormat(t *testing.T) {
	secret := []byte("whsec-test")
	at := time.Unix(1767225600, 0)
	body := []byte(`{"id":"whk_x","type":"key.revoked","created_at":"2026-01-01T00:00:00Z","data":{}}`)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1767225600." + string(body)))
	want := "t=1767225600,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign(secret, at, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("whsec-test")
	other := []byte("whsec-other")
	sent := time.Unix(1767225600, 0)
	body := []byte(`{"id":"whk_x","type":"key.revoked","data":{"key_id":"key_1"}}`)
	good := Sign(secret, sent, body)
	_, goodSig, _ := strings.Cut(good, ",")
	ts := strconv.FormatInt(sent.Unix(), 10)

	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"valid", secret, good, body, sent, true},
		{"valid within tolerance, late", secret, good, body, sent.Add(DefaultTolerance), true},
		{"valid within tolerance, clock behind", secret, good, body, sent.Add(-DefaultTolerance), true},
		{"valid with spaces and an unknown scheme", secret, "t=" + ts + ", v0=abc, " + goodSig, body, sent, true},
		{"valid second signature (secret rotation)", secret, Sign(other, sent, body) + "," + goodSig, body, sent, true},
		{"body changed", secret, good, []byte(strings.Replace(string(body), "key_1", "key_2", 1)), sent, false},
		{"body extended", secret, good, append(append([]byte{}, body...), ' '), sent, false},
		{"timestamp changed", secret, "t=" + strconv.FormatInt(sent.Unix()+1, 10) + "," + goodSig, body, sent, false},
		{"timestamp with sign", secret, "t=+" + ts + "," + goodSig, body, sent, false},
		{"replayed too late", secret, good, body, sent.Add(DefaultTolerance + time.Second), false},
		{"from the future", secret, good, body, sent.Add(-DefaultTolerance - time.Second), false},
		{"wrong secret", other, good, body, sent, false},
		{"no secret", nil, good, body, sent, false},
		{"signature flipped", secret, good[:len(good)-1] + flip(good[len(good)-1]), body, sent, false},
		{"no timestamp", secret, goodSig, body, sent, false},
		{"two timestamps", secret, "t=" + ts + ",t=" + ts + "," + goodSig, body, sent, false},
		{"no signature", secret, "t=" + ts, body, sent, false},
		{"not hex", secret, "t=" + ts + ",v1=zz", body, sent, false},
		{"empty", secret, "", body, sent, false},
		{"garbage", secret, "garbage", body, sent, false},
		{"too many signatures", secret, "t=" + ts + strings.Repeat(",v1=00", maxSignatures) + "," + goodSig, body, sent, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.secret, tc.header, tc.body, tc.now, 0)
			if tc.ok && err != nil {
				t.Fatalf("VerifySignature = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrSignature) {
				t.Fatalf("VerifySignature = %v, want ErrSignature", err)
			}
		})
	}
}

func TestVerifySignatureTolerance(t *testing.T) {
	secret, body, sent := []byte("s"), []byte("{}"), time.Unix(1000, 0)
	h := Sign(secret, sent, body)
	if err := VerifySignature(secret, h, body, sent.Add(30*time.Second), 10*time.Second); !errors.Is(err, ErrSignature) {
		t.Fatalf("30 s late with 10 s tolerance: %v, want ErrSignature", err)
	}
	if err := VerifySignature(secret, h, body, sent.Add(30*time.Second), time.Minute); err != nil {
		t.Fatalf("30 s late with 1 min tolerance: %v", err)
	}
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

// FuzzVerifySignature: a hostile header never panics or verifies without the
// secret, and whatever Sign produces verifies.
func FuzzVerifySignature(f *testing.F) {
	f.Add("t=1767225600,v1=00", []byte(`{}`), int64(1767225600))
	f.Add("t=-9223372036854775808,v1="+strings.Repeat("ab", 32), []byte(`x`), int64(0))
	f.Add(",,,=,t=,v1=,", []byte(nil), int64(-1))
	f.Fuzz(func(t *testing.T, header string, body []byte, unix int64) {
		secret := []byte("fuzz-secret")
		now := time.Unix(unix, 0)
		if err := VerifySignature(secret, header, body, now, 0); err == nil {
			// Only a header that carries the right MAC may pass, and that
			// needs the secret: the fuzzer cannot have found one unless
			// it reproduced Sign.
			if want := Sign(secret, now, body); !strings.Contains(header, want[strings.Index(want, ",v1=")+4:]) {
				t.Fatalf("header %q verified without the MAC of the body", header)
			}
		}
		if err := VerifySignature(secret, Sign(secret, now, body), body, now, 0); err != nil {
			t.Fatalf("Sign output does not verify: %v", err)
		}
	})
}
