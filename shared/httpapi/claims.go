package httpapi

import (
	"encoding/json"
	"slices"
	"strings"
)

// Claims are the JWT claims a user route acts on. The workspace comes only
// from here, never from the request body or path.
type Claims struct {
	Subject   string
	Workspace string
	Scopes    []string
}

// HasScope reports whether the token carries scope, matched exactly (never
// by substring, never by splitting another claim).
func (c Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// ClaimsFrom is claimsFrom for the local runner's stand-in of the authorizer.
func ClaimsFrom(raw map[string]string, workspaceClaim string) Claims {
	return claimsFrom(raw, workspaceClaim)
}

// claimsFrom reads claims as API Gateway's JWT authorizer passes them: a
// string map in which array claims arrive flattened, e.g. "[a b]". Scopes
// come from OAuth's "scope" (one space-separated string) or "scp" (an array).
func claimsFrom(raw map[string]string, workspaceClaim string) Claims {
	scopes := strings.Fields(raw["scope"])
	scopes = append(scopes, parseList(raw["scp"])...)
	return Claims{Subject: raw["sub"], Workspace: raw[workspaceClaim], Scopes: scopes}
}

// parseList accepts a JSON array of strings or API Gateway's "[a b]"
// rendering of one; anything else is no list at all.
func parseList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var list []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &list) == nil {
		return list
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			return strings.Fields(inner)
		}
	}
	return nil
}

// FormatList renders a list claim the way API Gateway passes it to a function.
func FormatList(list []string) string { return "[" + strings.Join(list, " ") + "]" }
