package messaging

import (
	"context"
	"errors"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/store"
)

// MaxWait bounds how long a read may wait for a message to finish.
const MaxWait = 25 * time.Second

// List returns a workspace's messages of one type (QUERY, COMMAND, EVENT),
// newest first.
func (s *Service) List(ctx context.Context, ws string, f store.ListFilter, limit int32, cursor string) (store.Page[federation.Message], error) {
	return s.Messages.List(ctx, ws, f, limit, cursor)
}

// Get returns a workspace's message of msgType, waiting up to wait for it to
// reach a final status.
func (s *Service) Get(ctx context.Context, ws, msgType, id string, wait time.Duration) (*federation.Message, error) {
	deadline := time.Now().Add(min(wait, MaxWait))
	for {
		rec, err := s.Messages.Get(ctx, ws, id)
		if err == nil && rec.MessageType != msgType {
			err = store.ErrNotFound
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, federation.NotFoundf("message not found")
		}
		if err != nil {
			return nil, err
		}
		if federation.IsFinal(rec.Status) || !time.Now().Before(deadline) {
			return &rec.Message, nil
		}
		select {
		case <-ctx.Done():
			return &rec.Message, nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}
