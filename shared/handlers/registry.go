package handlers

import (
	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
)

// HTTP maps each HTTP function's name (as in shared/routes) to its handler
// constructor. The local runner serves routes through it; a test checks that
// functions/<name>/main.go starts the very same constructor.
var HTTP = map[string]func(*app.App) api.LambdaHandler{
	"identity":             Identity,
	"instance-update":      InstanceUpdate,
	"instance-rotate-keys": InstanceRotateKeys,
}
