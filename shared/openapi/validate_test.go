package openapi

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/fedgate/fedgate/shared/routes"
)

func newValidator(t *testing.T) validator.Validator {
	t.Helper()
	data, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("building the validator: %v", errs)
	}
	return v
}

// The document is valid OpenAPI 3.1: checked against the specification's
// own JSON Schema by libopenapi-validator.
func TestDocumentIsValidOpenAPI31(t *testing.T) {
	v := newValidator(t)
	ok, errs := v.ValidateDocument()
	for _, e := range errs {
		t.Errorf("%s: %s (%s)", e.Message, e.Reason, e.SpecPath)
		for _, se := range e.SchemaValidationErrors {
			t.Errorf("  %s at %s", se.Reason, se.FieldPath+" "+se.KeywordLocation)
		}
	}
	if !ok && len(errs) == 0 {
		t.Error("document is not valid")
	}
}

// Every sample request of events/ (the document's examples) is a valid
// request by the document: path, parameters and body.
func TestSamplesAreValidRequests(t *testing.T) {
	v := newValidator(t)
	for _, r := range routes.All {
		if !r.IsHTTP() || r.IsDefault() { // $default answers only 404: no operation
			continue
		}
		ev := loadSample(r.Name)
		u := &url.URL{Scheme: "https", Host: "fed.example.org", Path: r.FullPath()}
		for name, value := range ev.PathParameters {
			u.Path = strings.Replace(u.Path, "{"+name+"}", value, 1)
		}
		q := url.Values{}
		for k, val := range ev.QueryStringParameters {
			q.Set(k, val)
		}
		u.RawQuery = q.Encode()
		req, _ := http.NewRequest(r.Method, u.String(), bytes.NewReader([]byte(ev.Body)))
		if r.NeedsToken() {
			req.Header.Set("Authorization", "Bearer sample")
		}
		if ev.Body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if ok, errs := v.ValidateHttpRequestSync(req); !ok {
			for _, e := range errs {
				t.Errorf("events/%s.json: %s: %s", r.Name, e.Message, e.Reason)
				for _, se := range e.SchemaValidationErrors {
					t.Errorf("  %s at %s", se.Reason, se.FieldPath+" "+se.KeywordLocation)
				}
			}
		}
	}
}
