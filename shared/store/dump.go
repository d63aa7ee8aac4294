package store

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Dump is the content of tables as DynamoDB JSON items by logical table name.
type Dump map[string][]map[string]any

// Dump reads every item of the named tables (the local runner keeps state
// across restarts of moto_server with it; never a request path: it scans).
func (s *Store) Dump(ctx context.Context, tables ...string) (Dump, error) {
	out := Dump{}
	for _, logical := range tables {
		p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{TableName: aws.String(s.names[logical])})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("scan %s: %w", logical, err)
			}
			for _, item := range page.Items {
				out[logical] = append(out[logical], encodeItem(item))
			}
		}
	}
	return out, nil
}

// Restore writes back what Dump read; tables this version no longer has are skipped.
func (s *Store) Restore(ctx context.Context, d Dump) error {
	for logical, items := range d {
		table, ok := s.names[logical]
		if !ok {
			continue
		}
		for _, raw := range items {
			item, err := decodeItem(raw)
			if err != nil {
				return fmt.Errorf("restore %s: %w", logical, err)
			}
			if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
				return fmt.Errorf("restore %s: %w", logical, err)
			}
		}
	}
	return nil
}

// encodeItem and decodeItem convert items to and from DynamoDB JSON
// ({"S": "x"}, {"N": "1"}, …), which keeps every type exactly.

func encodeItem(item map[string]types.AttributeValue) map[string]any {
	out := make(map[string]any, len(item))
	for k, v := range item {
		out[k] = encodeValue(v)
	}
	return out
}

func encodeValue(v types.AttributeValue) map[string]any {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": x.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": x.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(x.Value)}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": x.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": true}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": x.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": x.Value}
	case *types.AttributeValueMemberBS:
		bs := make([]string, len(x.Value))
		for i, b := range x.Value {
			bs[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string]any{"BS": bs}
	case *types.AttributeValueMemberL:
		l := make([]any, len(x.Value))
		for i, e := range x.Value {
			l[i] = encodeValue(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": encodeItem(x.Value)}
	}
	return map[string]any{"NULL": true}
}

func decodeItem(raw map[string]any) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(raw))
	for k, v := range raw {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("attribute %s: not a typed value", k)
		}
		av, err := decodeValue(m)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func decodeValue(m map[string]any) (types.AttributeValue, error) {
	for typ, v := range m {
		switch typ {
		case "S":
			s, _ := v.(string)
			return &types.AttributeValueMemberS{Value: s}, nil
		case "N":
			s, _ := v.(string)
			return &types.AttributeValueMemberN{Value: s}, nil
		case "B":
			s, _ := v.(string)
			b, err := base64.StdEncoding.DecodeString(s)
			return &types.AttributeValueMemberB{Value: b}, err
		case "BOOL":
			b, _ := v.(bool)
			return &types.AttributeValueMemberBOOL{Value: b}, nil
		case "NULL":
			return &types.AttributeValueMemberNULL{Value: true}, nil
		case "SS", "NS", "BS":
			list, _ := v.([]any)
			strs := make([]string, len(list))
			for i, e := range list {
				strs[i], _ = e.(string)
			}
			switch typ {
			case "SS":
				return &types.AttributeValueMemberSS{Value: strs}, nil
			case "NS":
				return &types.AttributeValueMemberNS{Value: strs}, nil
			}
			bs := make([][]byte, len(strs))
			for i, s := range strs {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, err
				}
				bs[i] = b
			}
			return &types.AttributeValueMemberBS{Value: bs}, nil
		case "L":
			list, _ := v.([]any)
			out := make([]types.AttributeValue, len(list))
			for i, e := range list {
				em, ok := e.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("list element %d: not a typed value", i)
				}
				av, err := decodeValue(em)
				if err != nil {
					return nil, err
				}
				out[i] = av
			}
			return &types.AttributeValueMemberL{Value: out}, nil
		case "M":
			mm, _ := v.(map[string]any)
			item, err := decodeItem(mm)
			if err != nil {
				return nil, err
			}
			return &types.AttributeValueMemberM{Value: item}, nil
		}
	}
	return nil, fmt.Errorf("unknown attribute type in %v", m)
}
