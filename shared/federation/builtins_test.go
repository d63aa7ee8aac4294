package federation

import (
	"encoding/json"
	"strings"
	"testing"
)

// Each built-in payload is parsed once by one function, whose error names
// the field the peer got wrong.
func TestBuiltinPayloads(t *testing.T) {
	spawn := func(mod string) string {
		return `{"taskId":"t","agentType":"worker","context":{"repository":"r","branch":"b","workItems":["w"]}` + mod + `}`
	}
	parse := map[string]func(json.RawMessage) error{
		CommandEventSubscribe: func(r json.RawMessage) error { _, err := ParseSubscribe(r); return err },
		CommandEventSync:      func(r json.RawMessage) error { _, err := ParseSync(r); return err },
		CommandAgentSpawn:     func(r json.RawMessage) error { _, err := ParseSpawn(r); return err },
		CommandAgentStatus:    func(r json.RawMessage) error { _, err := ParseAgent(r); return err },
	}
	for _, tt := range []struct {
		command, payload string
		names            string // "" when valid
	}{
		{CommandEventSubscribe, `{"eventType":"task.created"}`, ""},
		{CommandEventSubscribe, `{"eventType":"task.*"}`, ""},
		{CommandEventSubscribe, `{"eventType":"Task"}`, "payload.eventType"},
		{CommandEventSubscribe, `{"eventType":7}`, "payload.eventType must be a string"},
		{CommandEventSubscribe, `[]`, "payload must be a JSON object"},
		{CommandEventSubscribe, `{"eventType":"task.*","filter":{"a":[]}}`, "filter.a"},
		{CommandEventSync, `{"eventTypes":[]}`, ""},
		{CommandEventSync, `{}`, "payload.eventTypes"},
		{CommandEventSync, `{"eventTypes":["ok.one","Bad"]}`, `"Bad"`},
		{CommandEventSync, `{"eventTypes":"task.created"}`, "payload.eventTypes must be a list"},
		{CommandAgentSpawn, spawn(""), ""},
		{CommandAgentSpawn, spawn(`,"options":{"priority":10}`), ""},
		{CommandAgentSpawn, spawn(`,"options":{"priority":11}`), "payload.options.priority"},
		{CommandAgentSpawn, strings.Replace(spawn(""), "worker", "boss", 1), "payload.agentType"},
		{CommandAgentSpawn, strings.Replace(spawn(""), `"t"`, `""`, 1), "payload.taskId"},
		{CommandAgentSpawn, strings.Replace(spawn(""), `["w"]`, `[]`, 1), "payload.context.workItems"},
		{CommandAgentSpawn, strings.Replace(spawn(""), `"b"`, `""`, 1), "payload.context.branch"},
		{CommandAgentSpawn, strings.Replace(spawn(""), `["w"]`, `"w"`, 1), "payload.context.workItems must be a list"},
		{CommandAgentStatus, `{"agentId":"a-1"}`, ""},
		{CommandAgentStatus, `{"agentId":""}`, "payload.agentId"},
		{CommandAgentStatus, `{"agentId":"` + strings.Repeat("x", 201) + `"}`, "payload.agentId"},
	} {
		err := parse[tt.command](json.RawMessage(tt.payload))
		switch {
		case tt.names == "" && err != nil:
			t.Errorf("%s %s: %v", tt.command, tt.payload, err)
		case tt.names != "" && (!HasCode(err, CodeValidation) || !strings.Contains(err.Error(), tt.names)):
			t.Errorf("%s %s: %v, want validation_failed naming %s", tt.command, tt.payload, err, tt.names)
		}
	}
}
