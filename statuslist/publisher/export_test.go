package publisher

// SetMaxEndPerBuild lowers how many dead epochs one build ends, so that a
// test can reach the bound with a few credentials.
func SetMaxEndPerBuild(p *Publisher, n int) { p.maxEnd = n }

// QueuedAllocations is how many first uses wait for an allocation commit.
func QueuedAllocations(p *Publisher) int {
	p.alloc.mu.Lock()
	defer p.alloc.mu.Unlock()
	return len(p.alloc.queue)
}
