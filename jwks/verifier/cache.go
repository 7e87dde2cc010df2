package verifier

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultTokenCacheSize is how many verified tokens a Verifier remembers.
const DefaultTokenCacheSize = 10000

// verifiedCache remembers tokens that passed verification, by SHA-256 of
// the token, so that a client reusing its token for minutes costs one
// signature check rather than one per request. A hit is only served if the
// key that verified the token is still in the current key set (a withdrawn
// key's tokens fail after the refresh, cached or not) and the time claims
// still hold; StatusChecker runs on every hit.
type verifiedCache struct {
	mu    sync.Mutex
	size  int
	ll    *list.List
	items map[[32]byte]*list.Element
	// bufs holds scratch buffers for hashing tokens: the hash functions
	// take []byte, and converting each token would allocate.
	bufs sync.Pool
}

type verifiedEntry struct {
	hash   [32]byte
	claims *Claims
	key    *publicKey
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{size: size, ll: list.New(), items: make(map[[32]byte]*list.Element, min(size, 1024))}
}

func (c *verifiedCache) hash(token string) [32]byte {
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := append((*bp)[:0], token...)
	sum := sha256.Sum256(b)
	*bp = b
	c.bufs.Put(bp)
	return sum
}

func (c *verifiedCache) get(h [32]byte) *verifiedEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[h]
	if !ok {
		return nil
	}
	c.ll.MoveToFront(el)
	return el.Value.(*verifiedEntry)
}

func (c *verifiedCache) remove(h [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[h]; ok {
		c.ll.Remove(el)
		delete(c.items, h)
	}
}

func (c *verifiedCache) put(e *verifiedEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.hash]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.items[e.hash] = c.ll.PushFront(e)
	for c.ll.Len() > c.size {
		oldest := c.ll.Back()
		c.ll.Remove(oldest)
		delete(c.items, oldest.Value.(*verifiedEntry).hash)
	}
}

// timely applies golang-jwt's time checks to cached claims: now before
// exp+leeway, not before nbf-leeway or iat-leeway.
func timely(c *Claims, now time.Time, leeway time.Duration) bool {
	if !now.Before(c.ExpiresAt.Add(leeway)) {
		return false
	}
	if !c.NotBefore.IsZero() && now.Before(c.NotBefore.Add(-leeway)) {
		return false
	}
	return !now.Before(c.IssuedAt.Add(-leeway))
}
