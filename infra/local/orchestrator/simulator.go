package orchestrator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Simulator is the orchestrator stand-in.
type Simulator struct {
	APIKey        string
	MaxConcurrent int           // spawning + running agents at most (default 20, as the original)
	SpawnDelay    time.Duration // spawning → running
	RunTime       time.Duration // running → completed

	mu     sync.Mutex
	agents map[string]*agent
	byKey  map[string]string // idempotency key → agent id
	calls  int
}

type agent struct {
	ID, TaskID, AgentType string
	SpawnedAt             time.Time
	RunTime               time.Duration // the simulator's RunTime when it was spawned
	KilledAt              *time.Time
}

// SetRunTime changes how long agents spawned from now on run.
func (s *Simulator) SetRunTime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.RunTime = d
}

// status derives an agent's status from its timeline.
func (s *Simulator) status(a *agent, now time.Time) (string, *time.Time) {
	if a.KilledAt != nil {
		return "killed", a.KilledAt
	}
	switch {
	case now.Before(a.SpawnedAt.Add(s.SpawnDelay)):
		return "spawning", nil
	case now.Before(a.SpawnedAt.Add(s.SpawnDelay + a.RunTime)):
		return "running", nil
	}
	done := a.SpawnedAt.Add(s.SpawnDelay + a.RunTime)
	return "completed", &done
}

func (s *Simulator) view(a *agent, now time.Time) map[string]any {
	st, end := s.status(a, now)
	v := map[string]any{"agentId": a.ID, "status": st, "spawnedAt": a.SpawnedAt.UTC().Format(time.RFC3339Nano)}
	if end != nil && st != "running" && st != "spawning" {
		v["completedAt"] = end.UTC().Format(time.RFC3339Nano)
	}
	return v
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// ServeHTTP implements the orchestrator's API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.agents == nil {
		s.agents, s.byKey = map[string]*agent{}, map[string]string{}
	}
	if r.Header.Get("X-API-Key") != s.APIKey {
		reply(w, http.StatusUnauthorized, map[string]string{"error": "invalid API key"})
		return
	}
	now := time.Now()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/agents/spawn":
		var req struct {
			TaskID         string `json:"taskId"`
			AgentType      string `json:"agentType"`
			IdempotencyKey string `json:"idempotencyKey"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil || req.TaskID == "" || !slices.Contains([]string{"worker", "reviewer", "tester"}, req.AgentType) {
			reply(w, http.StatusBadRequest, map[string]string{"error": "taskId and a valid agentType are required"})
			return
		}
		if id, ok := s.byKey[req.IdempotencyKey]; ok && req.IdempotencyKey != "" {
			reply(w, http.StatusCreated, s.view(s.agents[id], now))
			return
		}
		active := 0
		for _, a := range s.agents {
			if st, _ := s.status(a, now); st == "spawning" || st == "running" {
				active++
			}
		}
		max := s.MaxConcurrent
		if max == 0 {
			max = 20
		}
		if active >= max {
			w.Header().Set("Retry-After", "1")
			reply(w, http.StatusTooManyRequests, map[string]string{"error": "concurrency limit reached"})
			return
		}
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		a := &agent{ID: "agent-" + hex.EncodeToString(b), TaskID: req.TaskID, AgentType: req.AgentType, SpawnedAt: now, RunTime: s.RunTime}
		s.agents[a.ID] = a
		if req.IdempotencyKey != "" {
			s.byKey[req.IdempotencyKey] = a.ID
		}
		reply(w, http.StatusCreated, s.view(a, now))
	case len(parts) == 3 && parts[0] == "agents":
		a, ok := s.agents[parts[1]]
		if !ok {
			reply(w, http.StatusNotFound, map[string]string{"error": "agent not found"})
			return
		}
		switch {
		case r.Method == http.MethodGet && parts[2] == "status":
			reply(w, http.StatusOK, s.view(a, now))
		case r.Method == http.MethodPost && parts[2] == "kill":
			if st, _ := s.status(a, now); st == "spawning" || st == "running" {
				a.KilledAt = &now
			}
			reply(w, http.StatusOK, s.view(a, now))
		default:
			reply(w, http.StatusNotFound, map[string]string{"error": "no such endpoint"})
		}
	default:
		reply(w, http.StatusNotFound, map[string]string{"error": "no such endpoint"})
	}
}

// Status returns an agent's current status ("" if unknown).
func (s *Simulator) Status(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agents[id]
	if !ok {
		return ""
	}
	st, _ := s.status(a, time.Now())
	return st
}

// Count returns how many agents were spawned.
func (s *Simulator) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.agents)
}
