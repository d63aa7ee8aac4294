package messaging

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/store"
)

// MaxWait bounds how long a read may wait for a message to finish.
const MaxWait = 25 * time.Second

// List returns a workspace's messages of one type (QUERY, COMMAND, EVENT),
// newest first.
func (s *Service) List(ctx context.Context, ws string, f store.ListFilter, limit int32, cursor string) (store.Page[federation.Message], error) {
	return s.messages.List(ctx, ws, f, limit, cursor)
}

// Get returns a workspace's message of msgType, waiting up to wait for it to
// reach a final status.
func (s *Service) Get(ctx context.Context, ws, msgType, id string, wait time.Duration) (*federation.Message, error) {
	deadline := time.Now().Add(min(wait, MaxWait))
	for {
		rec, err := s.messages.Get(ctx, ws, id)
		if err == nil && rec.MessageType != msgType {
			err = store.ErrNotFound
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, federation.NotFoundf("message not found")
		}
		if err != nil {
			return nil, err
		}
		if rec.Status.Final() || !time.Now().Before(deadline) {
			return &rec.Message, nil
		}
		select {
		case <-ctx.Done():
			return &rec.Message, nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Attempts returns one page of the delivery attempts of a workspace's
// message of msgType, oldest first (PROTOCOL.md §9): of an outgoing one its
// own, of an incoming COMMAND those of its COMMAND_RESPONSE. The cursor is
// the position in the message's attempt log.
func (s *Service) Attempts(ctx context.Context, ws, msgType, id string, limit int32, cursor string) (store.Page[federation.Attempt], error) {
	var page store.Page[federation.Attempt]
	rec, err := s.messages.Get(ctx, ws, id)
	if err == nil && rec.MessageType != msgType {
		err = store.ErrNotFound
	}
	if err == nil && rec.Direction == federation.Inbound && msgType == federation.TypeCommand {
		if rec, err = s.messages.Get(ctx, ws, ResponseID(rec)); errors.Is(err, store.ErrNotFound) {
			return store.Page[federation.Attempt]{Items: []federation.Attempt{}}, nil // not answered yet
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return page, federation.NotFoundf("message not found")
	}
	if err != nil {
		return page, err
	}
	from := 0
	if cursor != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(cursor)
		n, aerr := strconv.Atoi(strings.TrimPrefix(string(raw), "attempt:"))
		if derr != nil || aerr != nil || !strings.HasPrefix(string(raw), "attempt:") || n < 0 || n > len(rec.AttemptLog) {
			return page, federation.Invalidf("cursor is not valid for this list")
		}
		from = n
	}
	end := min(from+int(limit), len(rec.AttemptLog))
	page.Items = append([]federation.Attempt{}, rec.AttemptLog[from:end]...)
	if end < len(rec.AttemptLog) {
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte("attempt:" + strconv.Itoa(end)))
	}
	return page, nil
}

// ResponseID is the id of the COMMAND_RESPONSE an incoming command gets.
func ResponseID(cmd *store.MessageRecord) string {
	return ids.Derived(cmd.ConnectionID, cmd.ID, federation.EnvCommandResponse)
}
