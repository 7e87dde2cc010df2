package statuslist_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/authz/authz/statuslist"
)

// The examples of draft-ietf-oauth-status-list §4.1 and §11.1 (Further
// Examples): the statuses, the byte array they make and its "lst".
func TestDraftShortExamples(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bits     int
		statuses []statuslist.Status
		bytes    []byte
		lst      string
	}{
		{"1-bit", 1, []statuslist.Status{1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1}, []byte{0xB9, 0xA3}, "eNrbuRgAAhcBXQ"},
		{"2-bit", 2, []statuslist.Status{1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3}, []byte{0xC9, 0x44, 0xF9}, "eNo76fITAAPfAgc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := statuslist.New(tc.bits, int64(len(tc.statuses)))
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.statuses {
				if err := l.Set(int64(i), s); err != nil {
					t.Fatal(err)
				}
			}
			lst, err := l.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if got := inflate(t, lst); !bytes.Equal(got, tc.bytes) {
				t.Fatalf("byte array = % X, want % X", got, tc.bytes)
			}
			// DEFLATE output is not unique (Go's encoder ends with an
			// empty stored block where zlib does not), so the arrays
			// are compared, not the strings.
			d, err := statuslist.Decode(tc.bits, tc.lst)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != int64(len(tc.statuses)) {
				t.Fatalf("Len = %d, want %d", d.Len(), len(tc.statuses))
			}
			for i, want := range tc.statuses {
				if got, err := d.Get(int64(i)); err != nil || got != want {
					t.Errorf("Get(%d) = %v, %v; want %v", i, got, err, want)
				}
			}
		})
	}
}

// The test vectors of the draft's appendix: lists of 2^20 entries in which
// only the given indices are not VALID.
func TestDraftTestVectors(t *testing.T) {
	for _, tc := range []struct {
		name string
		bits int
		lst  string
		set  map[int64]statuslist.Status
		// partial: set lists only some of the non-zero entries.
		partial bool
	}{
		{name: "1-bit", bits: 1, lst: vector1, set: map[int64]statuslist.Status{
			0: 1, 1993: 1, 25460: 1, 159495: 1, 495669: 1, 554353: 1, 645645: 1, 723232: 1, 854545: 1, 934534: 1, 1000345: 1,
		}},
		{name: "2-bit", bits: 2, lst: vector2, set: map[int64]statuslist.Status{
			0: 1, 1993: 2, 25460: 1, 159495: 3, 495669: 1, 554353: 1, 645645: 2, 723232: 1, 854545: 1, 934534: 2, 1000345: 3,
		}},
		{name: "4-bit", bits: 4, lst: vector4, set: map[int64]statuslist.Status{
			0: 1, 1993: 2, 35460: 3, 459495: 4, 595669: 5, 754353: 6, 845645: 7, 923232: 8, 924445: 9, 934534: 10,
			1004534: 11, 1000345: 12, 1030203: 13, 1030204: 14, 1030205: 15,
		}},
		{name: "8-bit", bits: 8, lst: vector8, partial: true, set: map[int64]statuslist.Status{
			233478: 0, 52451: 1, 576778: 2, 513575: 3, 468106: 4, 292632: 5, 214947: 6, 182323: 7,
			884834: 8, 66653: 9, 62489: 10, 196493: 11, 152133: 254, 19535: 255,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := statuslist.Decode(tc.bits, tc.lst)
			if err != nil {
				t.Fatal(err)
			}
			if l.Len() != 1<<20 {
				t.Fatalf("Len = %d, want 2^20", l.Len())
			}
			for idx, want := range tc.set {
				if got, err := l.Get(idx); err != nil || got != want {
					t.Errorf("Get(%d) = %v, %v; want %v", idx, got, err, want)
				}
			}
			if !tc.partial {
				for i := range l.Len() {
					if s, _ := l.Get(i); s != statuslist.Valid && s != tc.set[i] {
						t.Fatalf("Get(%d) = %v, not in the vector", i, s)
					}
				}
			}
			// Our encoding of the same list decodes to the same list.
			lst, err := l.Encode()
			if err != nil {
				t.Fatal(err)
			}
			again, err := statuslist.Decode(tc.bits, lst)
			if err != nil {
				t.Fatal(err)
			}
			if inflated := inflate(t, lst); !bytes.Equal(inflated, inflate(t, tc.lst)) {
				t.Fatal("re-encoded list differs from the vector")
			}
			if again.Len() != l.Len() {
				t.Fatalf("re-encoded Len = %d, want %d", again.Len(), l.Len())
			}
		})
	}
}

// Every entry of a list survives Set, Encode and Decode, for each size,
// with neighbours left alone.
func TestRoundTrip(t *testing.T) {
	for _, bits := range []int{1, 2, 4, 8} {
		t.Run(strings.Repeat("b", bits), func(t *testing.T) {
			const n = 1000
			l, err := statuslist.New(bits, n)
			if err != nil {
				t.Fatal(err)
			}
			want := func(i int64) statuslist.Status { return statuslist.Status((i*7 + i/3) % (1 << bits)) }
			for i := range int64(n) {
				if err := l.Set(i, want(i)); err != nil {
					t.Fatal(err)
				}
			}
			// Overwrite every third entry, then put it back: Set clears the
			// bits it does not set.
			for i := int64(0); i < n; i += 3 {
				_ = l.Set(i, statuslist.Status(1<<bits-1))
				_ = l.Set(i, want(i))
			}
			lst, err := l.Encode()
			if err != nil {
				t.Fatal(err)
			}
			d, err := statuslist.Decode(bits, lst)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() < n || d.Len() >= n+int64(8/bits) {
				t.Fatalf("Len = %d, want %d rounded up to a whole byte", d.Len(), n)
			}
			for i := range int64(n) {
				if got, err := d.Get(i); err != nil || got != want(i) {
					t.Fatalf("Get(%d) = %v, %v; want %v", i, got, err, want(i))
				}
			}
		})
	}
}

func TestBounds(t *testing.T) {
	l, err := statuslist.New(2, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []int64{-1, 8, 1 << 40} {
		if _, err := l.Get(idx); !errors.Is(err, statuslist.ErrOutOfRange) {
			t.Errorf("Get(%d) error = %v, want ErrOutOfRange", idx, err)
		}
		if err := l.Set(idx, statuslist.Invalid); !errors.Is(err, statuslist.ErrOutOfRange) {
			t.Errorf("Set(%d) error = %v, want ErrOutOfRange", idx, err)
		}
	}
	if err := l.Set(0, 4); err == nil {
		t.Error("Set accepted a status that does not fit in 2 bits")
	}
	for _, bits := range []int{0, 3, 16, -1} {
		if _, err := statuslist.New(bits, 8); err == nil {
			t.Errorf("New accepted bits=%d", bits)
		}
	}
	if _, err := statuslist.New(1, statuslist.MaxBytes*8+1); err == nil {
		t.Error("New accepted a list beyond MaxBytes")
	}
}

func TestDecodeRefuses(t *testing.T) {
	zeros := deflate(t, make([]byte, statuslist.MaxBytes+1))
	valid := "eNrbuRgAAhcBXQ"
	for _, tc := range []struct {
		name string
		bits int
		lst  string
	}{
		{"bits 3", 3, valid},
		{"bits 0", 0, valid},
		{"padding", 1, valid + "=="},
		{"standard base64", 1, strings.ReplaceAll(base64.StdEncoding.EncodeToString(inflateRaw(t, valid)), "=", "") + "+/"},
		{"non-canonical trailing bits", 1, valid[:len(valid)-1] + "R"},
		{"not zlib", 1, base64.RawURLEncoding.EncodeToString([]byte{0xB9, 0xA3})},
		{"bad checksum", 1, corruptChecksum(t, valid)},
		{"truncated", 1, base64.RawURLEncoding.EncodeToString(inflateRaw(t, valid)[:6])},
		{"zip bomb", 1, zeros},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := statuslist.Decode(tc.bits, tc.lst); !errors.Is(err, statuslist.ErrMalformed) {
				t.Fatalf("Decode error = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[statuslist.Status]string{0: "VALID", 1: "INVALID", 2: "SUSPENDED", 3: "0x03"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", s, got, want)
		}
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to a
// list with the same entries.
func FuzzDecode(f *testing.F) {
	f.Add(1, "eNrbuRgAAhcBXQ")
	f.Add(2, "eNo76fITAAPfAgc")
	f.Add(4, vector4)
	f.Add(8, "")
	f.Add(2, "eJwDAAAAAAE")
	f.Fuzz(func(t *testing.T, bits int, lst string) {
		l, err := statuslist.Decode(bits, lst)
		if err != nil {
			if !errors.Is(err, statuslist.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		enc, err := l.Encode()
		if err != nil {
			t.Fatal(err)
		}
		again, err := statuslist.Decode(bits, enc)
		if err != nil {
			t.Fatalf("re-encoded list does not decode: %v", err)
		}
		if again.Len() != l.Len() {
			t.Fatalf("Len %d after round trip, want %d", again.Len(), l.Len())
		}
		for i := range min(l.Len(), 4096) {
			a, _ := l.Get(i)
			b, _ := again.Get(i)
			if a != b {
				t.Fatalf("entry %d: %v after round trip, want %v", i, b, a)
			}
		}
	})
}

func inflateRaw(t *testing.T, lst string) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(lst)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func inflate(t *testing.T, lst string) []byte {
	t.Helper()
	zr, err := zlib.NewReader(bytes.NewReader(inflateRaw(t, lst)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func deflate(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

func corruptChecksum(t *testing.T, lst string) string {
	raw := inflateRaw(t, lst)
	raw[len(raw)-1] ^= 0xFF
	return base64.RawURLEncoding.EncodeToString(raw)
}
