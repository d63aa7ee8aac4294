package tests

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/signing"
)

// Two instances serve distinct identities; a restart on the same state
// directory keeps both (moto_server starts empty each time, so this goes
// through the runner's state files and a fresh KMS key).
func TestInstancesKeepIdentityAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	docs := map[string]identity.Document{}
	c := cluster(t, dir, "hub", "spoke")
	for _, name := range []string{"hub", "spoke"} {
		inst := c.Instances[name]
		r := call(t, inst, "GET", "/instance", "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: GET /instance %d %s", name, r.Status, r.Body)
		}
		var d identity.Document
		r.decode(t, &d)
		if d.URL != inst.URL || d.Name != name || d.Capabilities.ProtocolVersion != "1" {
			t.Fatalf("%s document %+v", name, d)
		}
		if _, err := signing.ParsePublicKeyPEM(signing.RS256, d.PublicKey); err != nil {
			t.Fatalf("%s publishes no RS256 key: %v", name, err)
		}
		docs[name] = d
	}
	if docs["hub"].InstanceID == docs["spoke"].InstanceID || docs["hub"].KeyID == docs["spoke"].KeyID {
		t.Fatal("hub and spoke share an identity")
	}

	// Rename the hub, then restart everything on new ports.
	if r := call(t, c.Instances["hub"], "PATCH", "/instance", token(t, "ws-1", routes.ScopeInstance), `{"name":"renamed"}`); r.Status != 200 {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	c.Stop(t.Context())
	c2 := cluster(t, dir, "hub", "spoke")
	for _, name := range []string{"hub", "spoke"} {
		var d identity.Document
		call(t, c2.Instances[name], "GET", "/instance", "", nil).decode(t, &d)
		if d.InstanceID != docs[name].InstanceID || d.KeyID != docs[name].KeyID || d.PublicKey != docs[name].PublicKey {
			t.Errorf("%s identity changed across restart: %s/%s -> %s/%s", name, docs[name].InstanceID, docs[name].KeyID, d.InstanceID, d.KeyID)
		}
		if name == "hub" && d.Name != "renamed" {
			t.Errorf("hub name %q after restart, want renamed", d.Name)
		}
	}
	// The restored private key still signs for the published public key.
	signer, err := c2.Instances["hub"].App.Identity.Signer(t.Context())
	if err != nil || signer.ID() != docs["hub"].KeyID {
		t.Fatalf("restored signer: %v", err)
	}
}

func TestGatewayErrors(t *testing.T) {
	t.Parallel()
	c := cluster(t, "", "hub")
	hub := c.Instances["hub"]
	admin := token(t, "ws-1", routes.ScopeInstance)
	member := memberToken(t, "ws-1")
	workspaceAdmin := token(t, "ws-1", routes.ScopeAdmin)
	lookAlike, err := testAuth.Mint(devjwt.Token{Subject: "u", Workspace: "ws-1", Extra: map[string]any{"roles": []string{"not admin"}}, Scopes: []string{"fedgate:instance-x", "xfedgate:instance", "fedgate:Instance"}})
	if err != nil {
		t.Fatal(err)
	}
	other := devTokenFromOtherIssuer(t)
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"unknown route", "GET", "/nope", "", nil, 404, "not_found"},
		{"wrong method", "DELETE", "/instance", admin, nil, 404, "not_found"},
		{"no token", "PATCH", "/instance", "", `{"name":"x"}`, 401, "unauthenticated"},
		{"invalid token", "PATCH", "/instance", "garbage", `{"name":"x"}`, 401, "unauthenticated"},
		{"token from another issuer key", "PATCH", "/instance", other, `{"name":"x"}`, 401, "unauthenticated"},
		{"non-admin on admin route", "PATCH", "/instance", member, `{"name":"x"}`, 403, "forbidden"},
		{"non-admin rotates keys", "POST", "/instance/keys/rotate", member, nil, 403, "forbidden"},
		{"workspace admin rotates the instance's keys", "POST", "/instance/keys/rotate", workspaceAdmin, nil, 403, "forbidden"},
		{"workspace admin patches the instance", "PATCH", "/instance", workspaceAdmin, `{"name":"x"}`, 403, "forbidden"},
		{"look-alike roles and scopes", "POST", "/instance/keys/rotate", lookAlike, nil, 403, "forbidden"},
		{"member makes an invite", "POST", "/connections/invites", member, nil, 403, "forbidden"},
		{"malformed JSON", "PATCH", "/instance", admin, `{"name":`, 400, "invalid_json"},
		{"body over the limit", "PATCH", "/instance", admin, `{"name":"` + strings.Repeat("x", 210*1024) + `"}`, 413, "payload_too_large"},
		{"validation names the field", "PATCH", "/instance", admin, `{"name":""}`, 400, "validation_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, hub, tt.method, tt.path, tt.token, tt.body)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if got := r.errorCode(t); got != tt.code {
				t.Errorf("code %s, want %s", got, tt.code)
			}
			if r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", r.Header.Get("Content-Type"))
			}
		})
	}
	var d identity.Document
	call(t, hub, "GET", "/instance", "", nil).decode(t, &d)
	if d.Name != "hub" || len(d.PublicKeys) != 1 {
		t.Errorf("rejected requests changed the instance: %+v", d)
	}
}
