package identity

import (
	"context"
	"fmt"

	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// Escrow is the identity with its private keys in the clear (PKCS #8 DER by
// key id). Only the local runner uses it, to keep an instance's identity
// across restarts of moto_server, whose KMS keys cannot be exported or
// imported. Lambda functions never call Export.
type Escrow struct {
	Record      store.InstanceRecord `json:"record"`
	PrivateKeys map[string][]byte    `json:"privateKeys"`
}

// Export decrypts every key of the stored identity.
func (s *Service) Export(ctx context.Context) (Escrow, error) {
	rec, err := s.repo.Get(ctx)
	if err != nil {
		return Escrow{}, err
	}
	e := Escrow{Record: *rec, PrivateKeys: map[string][]byte{}}
	for i, k := range rec.Keys {
		key, err := s.sealer.Open(ctx, rec.InstanceID, k.KeyID, k.Alg, k.Sealed)
		if err != nil {
			return Escrow{}, fmt.Errorf("export identity: %w", err)
		}
		if e.PrivateKeys[k.KeyID], err = key.MarshalPKCS8(); err != nil {
			return Escrow{}, err
		}
		e.Record.Keys[i].Sealed = signing.SealedKey{}
	}
	return e, nil
}

// Import stores an exported identity, sealing its keys with this service's
// KMS key. It fails with store.ErrExists if an identity is already stored.
func (s *Service) Import(ctx context.Context, e Escrow) error {
	rec := e.Record
	rec.Keys = append([]store.KeyRecord(nil), e.Record.Keys...)
	for i, k := range rec.Keys {
		der, ok := e.PrivateKeys[k.KeyID]
		if !ok {
			return fmt.Errorf("import identity: no private key for %s", k.KeyID)
		}
		key, err := signing.ParsePKCS8(k.Alg, der)
		if err != nil {
			return fmt.Errorf("import identity: %w", err)
		}
		if rec.Keys[i].Sealed, err = s.sealer.Seal(ctx, rec.InstanceID, key); err != nil {
			return fmt.Errorf("import identity: %w", err)
		}
	}
	return s.repo.Create(ctx, &rec)
}
