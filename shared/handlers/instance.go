package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/store"
)

var instanceRoutes = routeHandlers{
	"instance-get":         InstanceGet,
	"instance-update":      InstanceUpdate,
	"instance-rotate-keys": InstanceRotateKeys,
}

// InstanceGet serves GET /instance: the public identity of this instance.
func InstanceGet(a *app.App) httpapi.LambdaHandler {
	return handle(a, "instance-get", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		doc, err := a.Identity.Document(ctx)
		return http.StatusOK, doc, err
	})
}

// InstanceUpdate serves PATCH /instance (admin): name, capabilities, metadata.
func InstanceUpdate(a *app.App) httpapi.LambdaHandler {
	return handle(a, "instance-update", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var p identity.Patch
		if err := c.Decode(&p); err != nil {
			return 0, nil, err
		}
		doc, err := a.Identity.Update(ctx, p)
		if errors.Is(err, store.ErrConflict) {
			return 0, nil, federation.Conflictf("the instance changed concurrently; read it again and retry")
		}
		return http.StatusOK, doc, err
	})
}

// InstanceRotateKeys serves POST /instance/keys/rotate (admin).
func InstanceRotateKeys(a *app.App) httpapi.LambdaHandler {
	return handle(a, "instance-rotate-keys", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in identity.RotateInput
		if err := decodeOptional(c, &in); err != nil {
			return 0, nil, err
		}
		doc, err := a.Identity.RotateKeys(ctx, in.Revoke)
		if errors.Is(err, store.ErrConflict) {
			return 0, nil, federation.Conflictf("another rotation or update happened at the same time; retry")
		}
		if err == nil {
			c.Log.InfoContext(ctx, "signing key rotated", "keyId", doc.KeyID, "revoked", in.Revoke)
			a.Operations.KeyRotated(ctx, doc.KeyID)
		}
		return http.StatusOK, doc, err
	})
}
