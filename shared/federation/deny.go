package federation

import "strings"

// deniedQueryTerms are refused anywhere in a query's text (PROTOCOL.md §6):
// credentials never cross the federation.
var deniedQueryTerms = []string{"credential", "user_credential", "api_key", "secret", "token", "password", "oauth", "access_token"}

// QueryAllowed reports whether a query may be sent or answered.
func QueryAllowed(query string) bool {
	q := strings.ToLower(query)
	for _, term := range deniedQueryTerms {
		if strings.Contains(q, term) {
			return false
		}
	}
	return true
}

// CommandAllowed reports whether an incoming command type is accepted: never
// credential commands, and otherwise only those in the allow-list.
func CommandAllowed(commandType string, allowList []string) bool {
	if strings.HasPrefix(commandType, "credential.") || strings.HasPrefix(commandType, "credentials.") {
		return false
	}
	for _, t := range allowList {
		if t == commandType {
			return true
		}
	}
	return false
}
