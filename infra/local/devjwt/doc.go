// Package devjwt is the local runner's stand-in for the identity provider and
// for API Gateway's JWT authorizer: it mints RS256 tokens with a key kept
// under .local/ and validates them the way the authorizer does (signature,
// issuer, audience, expiry), producing the claims map a function receives.
// Signing and validation are github.com/golang-jwt/jwt/v5's.
package devjwt
