// Package promreg holds what authz's components share about Prometheus:
// registering a component's collectors on the registry the server passes
// in, so that two instances of a component on one registry (replicas in
// one test process, a second handler) share their series instead of
// failing.
package promreg
