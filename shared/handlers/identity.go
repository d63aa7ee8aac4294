// Package handlers holds one handler per function. Each constructor takes the
// cold-start App and returns what lambda.Start and the local runner call.
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// InstanceGet serves GET /instance: the public identity of this instance.
func InstanceGet(a *app.App) api.LambdaHandler {
	return api.Handle(routes.MustByName("instance-get"), a.APIOptions(), func(ctx context.Context, c *api.Call) (int, any, error) {
		doc, err := a.Identity.Document(ctx)
		return http.StatusOK, doc, err
	})
}

// InstanceUpdate serves PATCH /instance (admin): name, capabilities, metadata.
func InstanceUpdate(a *app.App) api.LambdaHandler {
	return api.Handle(routes.MustByName("instance-update"), a.APIOptions(), func(ctx context.Context, c *api.Call) (int, any, error) {
		var p identity.Patch
		if err := c.Decode(&p); err != nil {
			return 0, nil, err
		}
		if err := validatePatch(p); err != nil {
			return 0, nil, err
		}
		doc, err := a.Identity.Update(ctx, p)
		if errors.Is(err, store.ErrConflict) {
			return 0, nil, api.Conflict("the instance changed concurrently; read it again and retry")
		}
		return http.StatusOK, doc, err
	})
}

// InstanceRotateKeys serves POST /instance/keys/rotate (admin).
func InstanceRotateKeys(a *app.App) api.LambdaHandler {
	return api.Handle(routes.MustByName("instance-rotate-keys"), a.APIOptions(), func(ctx context.Context, c *api.Call) (int, any, error) {
		doc, err := a.Identity.RotateKeys(ctx)
		if errors.Is(err, store.ErrConflict) {
			return 0, nil, api.Conflict("another rotation or update happened at the same time; retry")
		}
		if err == nil {
			c.Log.Info("signing key rotated", "keyId", doc.KeyID)
		}
		return http.StatusOK, doc, err
	})
}

const (
	maxNameLen     = 200
	maxMetadataLen = 16 * 1024
	maxTypes       = 200
)

func validatePatch(p identity.Patch) error {
	var v api.Validator
	if p.Name == nil && p.Capabilities == nil && p.Metadata == nil {
		return api.ValidationFailed("body must set at least one of name, capabilities, metadata")
	}
	if p.Name != nil {
		v.Check(strings.TrimSpace(*p.Name) != "", "name", "must not be empty")
		v.Check(len(*p.Name) <= maxNameLen, "name", "must be at most 200 characters")
	}
	if p.Metadata != nil {
		var obj map[string]json.RawMessage
		v.Check(json.Unmarshal(*p.Metadata, &obj) == nil && obj != nil, "metadata", "must be a JSON object")
		v.Check(len(*p.Metadata) <= maxMetadataLen, "metadata", "must be at most 16 KiB")
	}
	if c := p.Capabilities; c != nil {
		checkTypes(&v, "capabilities.commandTypes", c.CommandTypes)
		checkTypes(&v, "capabilities.eventTypes", c.EventTypes)
	}
	return v.Err()
}

func checkTypes(v *api.Validator, field string, list *[]string) {
	if list == nil {
		return
	}
	v.Check(len(*list) <= maxTypes, field, "must have at most 200 entries")
	for _, t := range *list {
		if !validTypeName(t) {
			v.Check(false, field, "entries must be dot-separated lower-case words, got "+strconvQuote(t))
			return
		}
	}
}

// validTypeName accepts command and event type names such as "agent.spawn".
func validTypeName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, word := range strings.Split(s, ".") {
		if word == "" {
			return false
		}
		for _, r := range word {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
				return false
			}
		}
	}
	return true
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
