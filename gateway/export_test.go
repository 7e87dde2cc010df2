package gateway

// SetBeforeFlight installs a hook that runs after a token cache miss, just
// before the request joins or starts the exchange for its key.
func SetBeforeFlight(p *Proxy, f func()) { p.x.beforeFlight = f }

// CachedKeys is the number of entries in the exchanged-token cache.
func CachedKeys(p *Proxy) int { return p.x.cache.len() }
