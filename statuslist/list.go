package statuslist

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// Status is the status of one referenced token (draft §7.1).
type Status uint8

// The status types of the draft. Other values up to 2^bits-1 are
// application specific; authz publishes only these three.
const (
	Valid     Status = 0x00
	Invalid   Status = 0x01
	Suspended Status = 0x02
)

func (s Status) String() string {
	switch s {
	case Valid:
		return "VALID"
	case Invalid:
		return "INVALID"
	case Suspended:
		return "SUSPENDED"
	}
	return fmt.Sprintf("0x%02X", uint8(s))
}

// MaxBytes bounds the decompressed size of a list Decode accepts: 16 MiB,
// 64 Mi entries at 2 bits. A list is small and signed, but decompression
// must never be a way to exhaust a verifier's memory.
const MaxBytes = 16 << 20

var (
	// ErrMalformed: the encoded list is not valid (bits, base64url, zlib,
	// or too large).
	ErrMalformed = errors.New("statuslist: malformed status list")
	// ErrOutOfRange: the index is outside the list. A verifier must then
	// reject the token (draft §8.3 step 6); an issuer never hands out
	// such an index.
	ErrOutOfRange = errors.New("statuslist: index out of range")
)

// List is a status list: entries of Bits bits each, entry i in byte
// i*bits/8 at bit offset (i*bits)%8 counted from the least significant bit
// (draft §4.1). The zero value is not usable; use New or Decode.
type List struct {
	bits int
	data []byte
}

// validBits reports whether bits is one of the sizes the draft allows.
func validBits(bits int) bool { return bits == 1 || bits == 2 || bits == 4 || bits == 8 }

// New returns a list of at least size entries, all Valid. The byte array
// is rounded up to whole bytes, as the draft recommends.
func New(bits int, size int64) (*List, error) {
	if !validBits(bits) {
		return nil, fmt.Errorf("statuslist: bits must be 1, 2, 4 or 8, not %d", bits)
	}
	if size < 0 || size > MaxBytes*8/int64(bits) {
		return nil, fmt.Errorf("statuslist: size %d is out of range", size)
	}
	return &List{bits: bits, data: make([]byte, (size*int64(bits)+7)/8)}, nil
}

// Bits is the number of bits per entry.
func (l *List) Bits() int { return l.bits }

// Len is the number of entries.
func (l *List) Len() int64 { return int64(len(l.data)) * 8 / int64(l.bits) }

// Get returns the status of entry idx.
func (l *List) Get(idx int64) (Status, error) {
	if idx < 0 || idx >= l.Len() {
		return 0, fmt.Errorf("%w: %d not in [0, %d)", ErrOutOfRange, idx, l.Len())
	}
	bit := idx * int64(l.bits)
	mask := byte(1<<l.bits - 1)
	return Status(l.data[bit/8] >> (bit % 8) & mask), nil
}

// Set sets the status of entry idx.
func (l *List) Set(idx int64, s Status) error {
	if idx < 0 || idx >= l.Len() {
		return fmt.Errorf("%w: %d not in [0, %d)", ErrOutOfRange, idx, l.Len())
	}
	if l.bits < 8 && s >= 1<<l.bits {
		return fmt.Errorf("statuslist: status %s does not fit in %d bits", s, l.bits)
	}
	bit := idx * int64(l.bits)
	mask := byte(1<<l.bits-1) << (bit % 8)
	l.data[bit/8] = l.data[bit/8]&^mask | byte(s)<<(bit%8)
	return nil
}

// Encode returns the list's "lst": base64url without padding of the ZLIB
// (RFC 1950) stream of the DEFLATE-compressed byte array, at the highest
// compression level, as the draft recommends.
func (l *List) Encode() (string, error) {
	var buf bytes.Buffer
	zw, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := zw.Write(l.data); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// Decode parses an encoded list ("lst") of entries of bits bits. It
// refuses padding and non-canonical base64url, a broken ZLIB stream or
// checksum, and lists that inflate beyond MaxBytes.
func Decode(bits int, lst string) (*List, error) {
	if !validBits(bits) {
		return nil, fmt.Errorf("%w: bits must be 1, 2, 4 or 8, not %d", ErrMalformed, bits)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(lst)
	if err != nil {
		return nil, fmt.Errorf("%w: lst is not base64url without padding: %v", ErrMalformed, err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: lst is not a ZLIB stream: %v", ErrMalformed, err)
	}
	defer zr.Close()
	// Reading to EOF makes the zlib reader check the Adler-32 checksum.
	data, err := io.ReadAll(io.LimitReader(zr, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: lst does not inflate: %v", ErrMalformed, err)
	}
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: lst inflates beyond %d bytes", ErrMalformed, MaxBytes)
	}
	return &List{bits: bits, data: data}, nil
}
