package gateway

import (
	"container/list"
	"sync"
	"time"
)

// tokenCache is a bounded LRU of exchange results keyed by a keyed hash of
// the legacy key. An entry is either a token with its verified claims or a
// refusal (negative entry), each valid until its own deadline.
type tokenCache struct {
	mu    sync.Mutex
	size  int
	ll    *list.List // front = most recently used
	items map[cacheKey]*list.Element
}

type cacheKey [32]byte

type cacheEntry struct {
	key   cacheKey
	until time.Time
	val   *exchangeResult
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: size, ll: list.New(), items: make(map[cacheKey]*list.Element, min(size, 1024))}
}

// get returns the entry for k if it is still valid at now; an expired
// entry is dropped.
func (c *tokenCache) get(k cacheKey, now time.Time) (*exchangeResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.until) {
		c.ll.Remove(el)
		delete(c.items, k)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e.val, true
}

func (c *tokenCache) put(k cacheKey, v *exchangeResult, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*cacheEntry)
		e.val, e.until = v, until
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(&cacheEntry{key: k, until: until, val: v})
	for c.ll.Len() > c.size {
		oldest := c.ll.Back()
		c.ll.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
}

func (c *tokenCache) remove(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.ll.Remove(el)
		delete(c.items, k)
	}
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
