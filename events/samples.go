// Package events embeds the sample API Gateway events in this directory, one
// per function (events/<function>.json), so the OpenAPI document takes its
// examples from the same files the handler tests and the packaged-binary
// smoke test use.
package events

import "embed"

// Samples holds events/*.json.
//
//go:embed *.json
var Samples embed.FS
