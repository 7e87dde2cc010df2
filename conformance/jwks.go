package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// privateMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func (s *session) needKeys(ctx context.Context) (*keySet, *Outcome) {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return nil, o
	}
	ks, err := s.keys(ctx, md)
	if err != nil {
		o := skipped("no JWKS (see jwks.fetch): %v", err)
		return nil, &o
	}
	return ks, nil
}

func checkJWKSFetch(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	ks, err := s.keys(ctx, md)
	if err != nil {
		return failed("%v", err)
	}
	if len(ks.raw) == 0 {
		return failed("the JWK Set at %s holds no keys", md.JWKSURI)
	}
	if len(ks.problems) > 0 {
		return failed("%s", strings.Join(ks.problems, "; "))
	}
	return passed("%d key(s)", len(ks.raw))
}

func checkJWKSPublicOnly(ctx context.Context, s *session) Outcome {
	ks, o := s.needKeys(ctx)
	if o != nil {
		return *o
	}
	var leaks []string
	for _, k := range ks.raw {
		for _, m := range privateMembers {
			if _, ok := k[m]; ok {
				leaks = append(leaks, fmt.Sprintf("key (%s) has private member %q", kidOf(k), m))
			}
		}
	}
	if len(leaks) > 0 {
		return failed("%s: the private key is disclosed to everyone", strings.Join(leaks, "; "))
	}
	return passed("")
}

func checkJWKSMembers(ctx context.Context, s *session) Outcome {
	ks, o := s.needKeys(ctx)
	if o != nil {
		return *o
	}
	var problems []string
	for i, k := range ks.raw {
		name := fmt.Sprintf("key %d (%s)", i, kidOf(k))
		if v, _ := k["kty"].(string); v == "" {
			problems = append(problems, name+" has no kty")
		}
		if v, _ := k["kid"].(string); v == "" {
			problems = append(problems, name+" has no kid")
		}
		use, hasUse := k["use"].(string)
		alg, hasAlg := k["alg"].(string)
		switch {
		case !hasUse && !hasAlg:
			problems = append(problems, name+" has neither use nor alg")
		case hasUse && use != "sig" && use != "enc":
			problems = append(problems, fmt.Sprintf("%s has use %q (want sig or enc)", name, use))
		case hasAlg && alg == "":
			problems = append(problems, name+" has an empty alg")
		}
	}
	if len(problems) > 0 {
		return failed("%s", strings.Join(problems, "; "))
	}
	return passed("")
}

func checkJWKSUniqueKids(ctx context.Context, s *session) Outcome {
	ks, o := s.needKeys(ctx)
	if o != nil {
		return *o
	}
	var kids, dups []string
	for _, k := range ks.raw {
		kid, _ := k["kid"].(string)
		if kid == "" {
			continue // jwks.key_members reports it
		}
		if slices.Contains(kids, kid) && !slices.Contains(dups, kid) {
			dups = append(dups, kid)
		}
		kids = append(kids, kid)
	}
	if len(dups) > 0 {
		return failed("kid used by more than one key: %s; a verifier cannot tell which key signed", strings.Join(dups, ", "))
	}
	return passed("%d distinct kid(s)", len(kids))
}
