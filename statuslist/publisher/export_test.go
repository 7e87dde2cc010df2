package publisher

// SetMaxEndPerBuild lowers how many dead epochs one build ends, so that a
// test can reach the bound with a few credentials.
func SetMaxEndPerBuild(p *Publisher, n int) { p.maxEnd = n }
