// Package backends opens the storage backend a --database URL names:
// sqlite:PATH (the embedded default) or postgres://... . It is the one
// place that knows every backend, so that the server and the tools do not.
package backends
