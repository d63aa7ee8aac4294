package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/identity"
)

func TestInstanceUpdate(t *testing.T) {
	a := apptest.New(t)
	h := InstanceUpdate(a)
	tests := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"renames", `{"name":"hub two"}`, 200, "", ""},
		{"empty patch", `{}`, 400, "validation_failed", "at least one"},
		{"blank name", `{"name":"  "}`, 400, "validation_failed", "name must not be empty"},
		{"metadata not an object", `{"metadata":[1]}`, 400, "validation_failed", "metadata must be a JSON object"},
		{"bad command type", `{"capabilities":{"commandTypes":["Agent Spawn"]}}`, 400, "validation_failed", "capabilities.commandTypes"},
		{"protocol version is not a setting", `{"capabilities":{"protocolVersion":"2"}}`, 400, "validation_failed", "protocolVersion"},
		{"malformed", `{"name":`, 400, "invalid_json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := loadEvent(t, "instance-update")
			req.Body = tt.body
			resp, _ := h(context.Background(), req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			if tt.code != "" {
				var e httpapi.ErrorBody
				_ = json.Unmarshal([]byte(resp.Body), &e)
				if e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.msg) {
					t.Errorf("error %+v, want %s containing %q", e.Error, tt.code, tt.msg)
				}
			}
		})
	}
	doc, _ := a.Identity.Document(context.Background())
	if doc.Name != "hub two" {
		t.Errorf("name %q after the valid patch and the rejected ones", doc.Name)
	}
}

func TestAdminRoutesNeedAdmin(t *testing.T) {
	a := apptest.New(t)
	for name, h := range map[string]httpapi.LambdaHandler{
		"instance-update":      InstanceUpdate(a),
		"instance-rotate-keys": InstanceRotateKeys(a),
	} {
		req := loadEvent(t, name)
		req.RequestContext.Authorizer.JWT.Claims["scope"] = "openid fedgate:admin"
		if resp, _ := h(context.Background(), req); resp.StatusCode != 403 {
			t.Errorf("%s as member: %d, want 403", name, resp.StatusCode)
		}
		req.RequestContext.Authorizer = nil
		if resp, _ := h(context.Background(), req); resp.StatusCode != 401 {
			t.Errorf("%s without token: %d, want 401", name, resp.StatusCode)
		}
	}
	before, _ := a.Identity.Document(context.Background())
	if before.Name != "test" || len(before.PublicKeys) != 1 {
		t.Errorf("refused calls changed the instance: %+v", before)
	}
}

func TestRotateKeysHandler(t *testing.T) {
	a := apptest.New(t)
	before, _ := a.Identity.Document(context.Background())
	resp, _ := InstanceRotateKeys(a)(context.Background(), loadEvent(t, "instance-rotate-keys"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	var doc identity.Document
	_ = json.Unmarshal([]byte(resp.Body), &doc)
	if doc.KeyID == before.KeyID || len(doc.PublicKeys) != 2 {
		t.Fatalf("rotation answer %+v", doc)
	}
	served, _ := InstanceGet(a)(context.Background(), loadEvent(t, "instance-get"))
	if !strings.Contains(served.Body, doc.KeyID) || !strings.Contains(served.Body, `"retired"`) {
		t.Errorf("GET /instance does not show the rotation: %s", served.Body)
	}
}
