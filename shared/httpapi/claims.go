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
	Roles     []string
}

// RoleAdmin is the role needed for instance administration and invites.
const RoleAdmin = "admin"

// HasRole reports whether the caller has role.
func (c Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// claimsFrom reads claims as API Gateway's JWT authorizer passes them: a
// string map in which array claims arrive flattened, e.g. "[admin user]".
func claimsFrom(raw map[string]string, workspaceClaim string) Claims {
	return Claims{
		Subject:   raw["sub"],
		Workspace: raw[workspaceClaim],
		Roles:     parseList(raw["roles"]),
	}
}

// parseList accepts a JSON array, API Gateway's "[a b]" / "[a, b]" rendering
// of one, or a single bare value.
func parseList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var list []string
	if json.Unmarshal([]byte(s), &list) == nil {
		return list
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// FormatList renders a list claim the way API Gateway passes it to a function.
func FormatList(list []string) string { return "[" + strings.Join(list, " ") + "]" }
