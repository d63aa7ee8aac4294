package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/fedgate/fedgate/shared/openapi"
	"github.com/fedgate/fedgate/shared/routes"
)

// apiDoc is the OpenAPI document every answer of an end-to-end test is
// checked against (call does it), so the document cannot drift from what
// the instances answer.
var apiDoc = sync.OnceValues(func() (*answerChecker, error) {
	data, err := openapi.Build(openapi.Options{})
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(data)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return &answerChecker{v: v}, nil
})

type answerChecker struct {
	mu sync.Mutex // the validator's caches are not documented as safe for concurrent use
	v  validator.Validator
}

// checkAnswer fails the test when an answer does not match the OpenAPI
// document: its status must be documented for the operation and its body
// must validate against that answer's schema (every error: the PROTOCOL
// error body). Answers for paths no route serves must be PROTOCOL errors.
func checkAnswer(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	if err := answerMatchesDocument(req, resp, body); err != nil {
		t.Errorf("%s %s answered %d %s\nwhich the OpenAPI document does not allow: %v", req.Method, req.URL.Path, resp.StatusCode, clip(body), err)
	}
}

// answerMatchesDocument is checkAnswer without a test, for clients (the CLI,
// the conformance suite) whose traffic the tests check through a transport.
func answerMatchesDocument(req *http.Request, resp *http.Response, body []byte) error {
	c, err := apiDoc()
	if err != nil {
		return err
	}
	copyResp := *resp
	copyResp.Body = io.NopCloser(bytes.NewReader(body))
	if _, _, ok := routes.Match(req.Method, req.URL.Path); !ok {
		var e struct {
			Error struct{ Code, Message, RequestID string } `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" || e.Error.RequestID == "" || resp.StatusCode < 400 {
			return errString("an unrouted path must get a PROTOCOL error")
		}
		return nil
	}
	c.mu.Lock()
	ok, errs := c.v.ValidateHttpResponse(req, &copyResp)
	c.mu.Unlock()
	if ok {
		return nil
	}
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n  " + e.Message + ": " + e.Reason)
		for _, se := range e.SchemaValidationErrors {
			b.WriteString("\n    " + se.Reason + " at " + se.FieldPath)
		}
	}
	return errString(b.String())
}

type errString string

func (e errString) Error() string { return string(e) }

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// validatingTransport checks every answer a client gets against the document.
type validatingTransport struct {
	t    *testing.T
	base http.RoundTripper
}

func (v validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasPrefix(req.URL.Path, routes.BasePath) {
		if err := answerMatchesDocument(req, resp, body); err != nil {
			v.t.Errorf("%s %s answered %d %s\nwhich the OpenAPI document does not allow: %v", req.Method, req.URL.Path, resp.StatusCode, clip(body), err)
		}
	}
	return resp, nil
}

// The document a live instance serves is the one built from this source,
// naming the instance as its server, and it answers by its own description.
func TestOpenAPIServedByAnInstance(t *testing.T) {
	t.Parallel()
	c := cluster(t, "", "hub")
	hub := c.Instances["hub"]
	r := call(t, hub, "GET", "/openapi.json", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", r.Status, r.Body)
	}
	want, err := openapi.Document(openapi.Options{ServerURL: hub.URL})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	var got, wantAny any
	_ = json.Unmarshal(r.Body, &got)
	_ = json.Unmarshal(wantJSON, &wantAny)
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ = json.Marshal(wantAny)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("served document differs from openapi.Document for %s", hub.URL)
	}
}
