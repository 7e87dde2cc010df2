// Package outbound makes the HTTP requests that authz sends to addresses
// somebody else chose: a private_key_jwt client's jwks_uri (chosen by a
// tenant administrator), webhook receivers, and any later fetch such as a
// federation's JWKS. Every such request goes through one Fetcher, so that
// none of them can be turned against the network authz runs in
// (server-side request forgery, issue 18 §2).
//
// The rules:
//
//   - The address actually dialled is checked, after DNS resolution, in the
//     dialer's Control hook: a name that resolves (or re-resolves, DNS
//     rebinding) to a refused address is refused at connect time, whatever
//     it resolved to before. Refused are loopback, private (RFC 1918,
//     unique-local fc00::/7), link-local (169.254/16, fe80::/10, so cloud
//     metadata endpoints), unspecified, multicast, and the special ranges of
//     blockedPrefixes (shared address space, benchmarking, reserved, NAT64
//     and 6to4, which can embed any IPv4 address). IPv4-mapped IPv6
//     addresses are judged as the IPv4 address they carry.
//   - The operator may allow named CIDRs (`authz serve
//     --outbound-allow-cidr 10.20.0.0/16`): an on-premises JWKS or webhook
//     receiver, or loopback in tests. Nothing else overrides the rules.
//   - Redirects are never followed: a 3xx is a failed fetch, so a permitted
//     host cannot bounce the request to a refused one.
//   - No proxy from the environment: the proxy would be what is dialled,
//     and the destination would escape the check.
//   - Every fetch has a timeout and a cap on the body read.
//   - Callers show one generic error for every failure (ErrFetch); the
//     reason (refused address, timeout, status, size, syntax) goes only to
//     the log, so that error texts cannot be used to map internal services.
package outbound
