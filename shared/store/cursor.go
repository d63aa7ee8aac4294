package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Page is one page of a list, newest first.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// encodeCursor turns a LastEvaluatedKey (string attributes only) into an opaque cursor.
func encodeCursor(k map[string]types.AttributeValue) string {
	if len(k) == 0 {
		return ""
	}
	m := map[string]string{}
	for name, v := range k {
		if sv, ok := v.(*types.AttributeValueMemberS); ok {
			m[name] = sv.Value
		}
	}
	data, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(data)
}

// decodeCursor parses a cursor and checks that it belongs to the partition
// being listed (attribute partAttr equals partValue), so a cursor can never
// move a Query into another workspace.
func decodeCursor(cursor, partAttr, partValue string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	data, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrBadCursor)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil || m[partAttr] != partValue {
		return nil, fmt.Errorf("%w: not from this list", ErrBadCursor)
	}
	out := map[string]types.AttributeValue{}
	for k, v := range m {
		out[k] = s(v)
	}
	return out, nil
}
