package federation

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCanTransition(t *testing.T) {
	tests := []struct {
		from, to ConnStatus
		ok       bool
	}{
		{StatusPending, StatusActive, true},
		{StatusPending, StatusRejected, true},
		{StatusPending, StatusDisconnected, true},
		{StatusPending, StatusSuspended, false},
		{StatusActive, StatusSuspended, true},
		{StatusActive, StatusDisconnected, true},
		{StatusActive, StatusActive, false},
		{StatusActive, StatusRejected, false},
		{StatusSuspended, StatusActive, true},
		{StatusSuspended, StatusDisconnected, true},
		{StatusDisconnected, StatusActive, false},
		{StatusRejected, StatusActive, false},
		{StatusRejected, StatusDisconnected, false},
	}
	for _, tt := range tests {
		if got := CanTransition(tt.from, tt.to); got != tt.ok {
			t.Errorf("%s → %s: %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
	for _, to := range ConnectionStatuses {
		for _, from := range SourcesOf(to) {
			if !CanTransition(from, to) {
				t.Errorf("SourcesOf(%s) lists %s, which cannot move there", to, from)
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"API_KEY":               "apikey",
		"api-key":               "apikey",
		"Api Key!":              "apikey",
		"ｔｏｋｅｎ":                 "token",
		"pass\u200bword":        "password",
		"PRIVATE_KEY":           "privatekey",
		"ŞeCRET":                "şecret",
		"Straße":                "strasse",
		"ﬁle":                   "file",
		"credential.read":       "credentialread",
		"task.created (v2)":     "taskcreatedv2",
		"sess\u00adion\u2060id": "sessionid",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQueryAllowed(t *testing.T) {
	for _, tt := range []struct {
		query, context string
		want           bool
	}{
		{"tasks.count", ``, true},
		{"federation.instance", `{"project":"p1","limit":3}`, true},
		{"list credentials", ``, false},
		{"USER_CREDENTIAL by id", ``, false},
		{"get Api_Key", ``, false},
		{"get api-key", ``, false},
		{"get apikey", ``, false},
		{"secret santa", ``, false},
		{"refresh token", ``, false},
		{"ｒｅｆｒｅｓｈ ｔｏｋｅｎ", ``, false},
		{"pass\u200bword reset", ``, false},
		{"show passwd", ``, false},
		{"the private_key", ``, false},
		{"OAuth clients", ``, false},
		{"session-id of u", ``, false},
		{"tasks.count", `{"field":"password"}`, false},
		{"tasks.count", `{"nested":[{"x":"my T0KEN"},{"y":"Token"}]}`, false},
		{"tasks.count", `{"apiKey":"x"}`, false},
		{"tasks.count", `{"a":["ok",1,true,null]}`, true},
	} {
		if got := QueryAllowed(tt.query, json.RawMessage(tt.context)); got != tt.want {
			t.Errorf("QueryAllowed(%q, %s) = %v, want %v", tt.query, tt.context, got, tt.want)
		}
	}
}

func TestCommandAllowed(t *testing.T) {
	allow := []string{"agent.spawn", "credential.read", "credentials.rotate", "Credentials.Read", "ｃｒｅｄｅｎｔｉａｌ.read"}
	for ct, want := range map[string]bool{
		"agent.spawn":        true,
		"agent.kill":         false, // not in the list
		"credential.read":    false, // never, even when listed
		"credentials.rotate": false,
		"credentialsx.read":  false,
		"Credentials.Read":   false,
		"ｃｒｅｄｅｎｔｉａｌ.read":    false,
	} {
		if got := CommandAllowed(ct, allow); got != want {
			t.Errorf("CommandAllowed(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestRetrySchedule(t *testing.T) {
	p := DefaultRetryPolicy
	wantCeilings := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 640 * time.Second, 15 * time.Minute, 15 * time.Minute}
	for i, want := range wantCeilings {
		if got := p.Ceiling(i + 1); got != want {
			t.Errorf("Ceiling(%d) = %s, want %s", i+1, got, want)
		}
	}
	for attempt := 1; attempt <= 20; attempt++ {
		for _, r := range []float64{0, 0.3, 0.999999} {
			d := p.Delay(attempt, func() float64 { return r })
			if d < p.BaseDelay || d > p.Ceiling(attempt) {
				t.Errorf("Delay(%d, %v) = %s outside [%s, %s]", attempt, r, d, p.BaseDelay, p.Ceiling(attempt))
			}
		}
	}
	// Full jitter: the upper draws grow with the attempt.
	hi := func(a int) time.Duration { return p.Delay(a, func() float64 { return 0.99 }) }
	if !(hi(1) < hi(3) && hi(3) < hi(6) && hi(6) < hi(9)) {
		t.Errorf("delays do not grow: %s %s %s %s", hi(1), hi(3), hi(6), hi(9))
	}
	created := time.Now()
	if p.Exhausted(19, created, created.Add(time.Hour)) {
		t.Error("19 attempts within an hour exhausted")
	}
	if !p.Exhausted(20, created, created.Add(time.Hour)) {
		t.Error("20 attempts not exhausted")
	}
	if !p.Exhausted(3, created, created.Add(25*time.Hour)) {
		t.Error("a try after 24 h not exhausted")
	}
	for status, want := range map[int]bool{0: true, 408: true, 429: true, 500: true, 503: true, 400: false, 401: false, 403: false, 404: false, 409: false, 410: false, 413: false} {
		if Retryable(status) != want {
			t.Errorf("Retryable(%d) = %v", status, !want)
		}
	}
}

func TestEnvelopeCheckAndMerge(t *testing.T) {
	now := time.Now()
	e := Envelope{MessageID: "m", Type: EnvEvent, InstanceID: "i", ToInstanceID: "r", ToURL: "https://r.example", ConnectionID: "c", Timestamp: now.UnixMilli(), Signature: "s"}
	if err := e.Check(EnvEvent); err != nil {
		t.Fatal(err)
	}
	if err := e.Check(EnvQuery); err == nil {
		t.Error("type mismatch accepted")
	}
	missing := e
	missing.MessageID, missing.Timestamp, missing.ToInstanceID, missing.ToURL = "", 0, "", ""
	if err := missing.Check(EnvEvent); err == nil || err.Error() != "messageId, timestamp, toInstanceId, toUrl is required" {
		t.Errorf("missing fields: %v", err)
	}
	bad := e
	bad.ConnectionID = "has space"
	if err := bad.Check(EnvEvent); err == nil || !strings.Contains(err.Error(), "connectionId must be 1 to 100 characters") {
		t.Errorf("identifier syntax: %v", err)
	}
	for d, fresh := range map[time.Duration]bool{0: true, 4 * time.Minute: true, -4 * time.Minute: true, 6 * time.Minute: false, -6 * time.Minute: false} {
		e.Timestamp = now.Add(d).UnixMilli()
		if e.Fresh(now) != fresh {
			t.Errorf("timestamp %s from now: fresh %v", d, !fresh)
		}
	}
	raw, err := Merge(Envelope{MessageID: "m", Type: EnvEvent, KeyID: "dropped", Signature: "dropped"}, EventBody{EventType: "task.created", Payload: []byte(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"connectionId":"","eventType":"task.created","instanceId":"","messageId":"m","payload":{"a":1},"timestamp":0,"toInstanceId":"","toUrl":"","type":"EVENT"}` {
		t.Errorf("Merge = %s", raw)
	}
	if _, err := Merge(Envelope{}, []int{1}); err == nil {
		t.Error("a non-object body merged")
	}
}

func TestEventTypes(t *testing.T) {
	for s, want := range map[string]bool{
		"task.created": true, "task.status.changed": true, "a1.b_2": true,
		"task": false, "Task.created": false, "task..created": false, "task.created.": false,
		".task": false, "task.*": false, "task.crea-ted": false, "1task.created": false, "": false,
	} {
		if ValidTypeName(s) != want {
			t.Errorf("ValidTypeName(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{
		"task.created": true, "project.*": true, "task.status.*": true,
		"*": false, ".*": false, "project.*.x": false, "Project.*": false, "project*": false, "project": false,
	} {
		if ValidEventPattern(s) != want {
			t.Errorf("ValidEventPattern(%q) = %v", s, !want)
		}
	}
	tests := []struct {
		pattern, eventType string
		want               bool
	}{
		{"task.created", "task.created", true},
		{"task.created", "task.created.late", false},
		{"task.created", "task.updated", false},
		{"project.*", "project.updated", true},
		{"project.*", "project.status.changed", true},
		{"project.*", "project", false},
		{"project.*", "projects.updated", false},
		{"task.status.*", "task.status.changed", true},
		{"task.status.*", "task.created", false},
		{"user.*", "task.created", false},
	}
	for _, tt := range tests {
		if got := MatchEventType(tt.pattern, tt.eventType); got != tt.want {
			t.Errorf("MatchEventType(%q, %q) = %v", tt.pattern, tt.eventType, got)
		}
		if tt.want && EventFamily(tt.pattern) != EventFamily(tt.eventType) {
			t.Errorf("a match across families: %q %q", tt.pattern, tt.eventType)
		}
	}
}

func TestChecks(t *testing.T) {
	var v Checks
	v.Required("remoteUrl", " ")
	v.Check(false, "reason", "must be at most 500 characters")
	v.Object("metadata", []byte(`[1]`))
	v.Object("context", nil)
	err := v.Err()
	e, ok := AsError(err)
	if !ok || e.Code != CodeValidation || !strings.Contains(e.Message, "remoteUrl is required") ||
		!strings.Contains(e.Message, "reason must be") || !strings.Contains(e.Message, "metadata must be a JSON object") ||
		strings.Contains(e.Message, "context") {
		t.Errorf("got %v", err)
	}
	var ok2 Checks
	ok2.Required("x", "y")
	ok2.Object("m", []byte(`{"a":1}`))
	if ok2.Err() != nil {
		t.Error("valid input reported an error")
	}
}

func TestCheckNumbers(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"a":1,"b":[2.5,-3e10],"c":"9007199254740993"}`:          true,
		`{"max":9007199254740991,"min":-9007199254740991}`:        true,
		`{"tiny":1e-400,"big":1e22}`:                              true,  // 1e22 is a double exactly
		`{"big":1e300}`:                                           false, // an integer no double equals
		`{"big":2.5e300}`:                                         false,
		`{"big":1e23}`:                                            false,
		`{"a":9007199254740992}`:                                  true, // 2^53: a double holds it
		`{"a":-9007199254740992}`:                                 true,
		`{"a":1e16,"b":1e21,"c":1E21,"d":12345678901234567890e5}`: false, // the last is no double
		`{"a":1e16,"b":1e21,"c":1E21}`:                            true,
		`{"a":9007199254740993}`:                                  false,
		`{"a":9007199254740993.0}`:                                false, // an integer however written
		`{"a":9.007199254740993e15}`:                              false,
		`{"a":90071992547409930e-1}`:                              false,
		`{"a":9007199254740993.5}`:                                true, // a fraction: the nearest double
		`{"a":0.1,"b":-0.0,"c":5e-324}`:                           true,
		`{"a":{"b":[1,123456789012345678901234567890]}}`:          false,
		`{"a":1e400}`:                                             false,
		`{"a":-1E400}`:                                            false,
		`[1e309]`:                                                 false,
	} {
		err := CheckNumbers([]byte(in))
		if (err == nil) != ok {
			t.Errorf("CheckNumbers(%s) = %v, want ok %v", in, err, ok)
		}
		if err != nil && !HasCode(err, CodeValidation) {
			t.Errorf("CheckNumbers(%s): %v is not validation_failed", in, err)
		}
	}
}
