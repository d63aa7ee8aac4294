package handlers

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/openapi"
)

// The OpenAPI document names the views this package keeps unexported by
// mirror types in shared/openapi; they must have the very same members.
func TestOpenAPIMirrorsTheViews(t *testing.T) {
	for _, tt := range []struct{ view, mirror reflect.Type }{
		{reflect.TypeFor[subscriptionView](), reflect.TypeFor[openapi.Subscription]()},
		{reflect.TypeFor[killRequest](), reflect.TypeFor[openapi.AgentKillInput]()},
	} {
		if got, want := openapi.Members(tt.mirror), openapi.Members(tt.view); !slices.Equal(got, want) {
			t.Errorf("openapi.%s has members %+v, handlers' %s has %+v", tt.mirror.Name(), got, tt.view.Name(), want)
		}
	}
}

// GET /openapi.json serves the document naming this instance as its server.
func TestOpenAPIServesTheDocument(t *testing.T) {
	a := apptest.New(t)
	resp, err := OpenAPI(a)(t.Context(), loadEvent(t, "openapi-get"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d err %v", resp.StatusCode, err)
	}
	var doc struct {
		OpenAPI string           `json:"openapi"`
		Servers []map[string]any `json:"servers"`
		Paths   map[string]any   `json:"paths"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != openapi.Version || len(doc.Paths) == 0 || len(doc.Servers) != 1 ||
		doc.Servers[0]["url"] != a.Config.Identity.URL+"/api/v1/federation" {
		t.Errorf("document %.300s", resp.Body)
	}
}

// A client that sends "metadata": null still gets the documented object.
func TestConnectionViewMetadataIsAnObject(t *testing.T) {
	for _, meta := range []string{"", "null"} {
		v := connectionView(&federation.Connection{Metadata: json.RawMessage(meta)}, time.Now())
		if string(v.Metadata) != "{}" {
			t.Errorf("metadata %q viewed as %s", meta, v.Metadata)
		}
	}
}
