package signing

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMS is the part of the KMS API that envelope encryption needs.
type KMS interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// SealedKey is a private key encrypted under a KMS data key (envelope
// encryption): KMS holds the master key, the data key travels encrypted next to
// the AES-GCM ciphertext of the PKCS #8 key. Safe to store; useless without KMS.
type SealedKey struct {
	EncryptedDataKey []byte `dynamodbav:"edk" json:"edk"`
	Nonce            []byte `dynamodbav:"nonce" json:"nonce"`
	Ciphertext       []byte `dynamodbav:"ct" json:"ct"`
}

// Sealer encrypts and decrypts private keys with a KMS key.
type Sealer struct {
	kms   KMS
	keyID string
}

// NewSealer returns a Sealer that uses the KMS key keyID (id, ARN or alias).
func NewSealer(client KMS, keyID string) *Sealer {
	return &Sealer{kms: client, keyID: keyID}
}

// encryptionContext binds a sealed key to its instance and key id, so a
// ciphertext copied onto another item does not decrypt.
func encryptionContext(instanceID, keyID string) map[string]string {
	return map[string]string{"fedgate:instance": instanceID, "fedgate:key": keyID}
}

// Seal encrypts key for instanceID.
func (s *Sealer) Seal(ctx context.Context, instanceID string, key *PrivateKey) (SealedKey, error) {
	der, err := key.MarshalPKCS8()
	if err != nil {
		return SealedKey{}, err
	}
	out, err := s.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(s.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encryptionContext(instanceID, key.ID()),
	})
	if err != nil {
		return SealedKey{}, fmt.Errorf("seal key %s: generate data key: %w", key.ID(), err)
	}
	gcm, err := newGCM(out.Plaintext)
	clear(out.Plaintext)
	if err != nil {
		return SealedKey{}, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return SealedKey{}, fmt.Errorf("seal key: nonce: %w", err)
	}
	ct := gcm.Seal(nil, nonce, der, []byte(key.ID()))
	clear(der)
	return SealedKey{EncryptedDataKey: out.CiphertextBlob, Nonce: nonce, Ciphertext: ct}, nil
}

// Open decrypts a sealed key of instanceID with id keyID and algorithm alg.
func (s *Sealer) Open(ctx context.Context, instanceID, keyID string, alg Alg, sealed SealedKey) (*PrivateKey, error) {
	out, err := s.kms.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    sealed.EncryptedDataKey,
		KeyId:             aws.String(s.keyID),
		EncryptionContext: encryptionContext(instanceID, keyID),
	})
	if err != nil {
		return nil, fmt.Errorf("open key %s: decrypt data key: %w", keyID, err)
	}
	gcm, err := newGCM(out.Plaintext)
	clear(out.Plaintext)
	if err != nil {
		return nil, err
	}
	der, err := gcm.Open(nil, sealed.Nonce, sealed.Ciphertext, []byte(keyID))
	if err != nil {
		return nil, fmt.Errorf("open key %s: %w", keyID, err)
	}
	defer clear(der)
	key, err := ParsePKCS8(alg, der)
	if err != nil {
		return nil, fmt.Errorf("open key %s: %w", keyID, err)
	}
	if key.ID() != keyID {
		return nil, fmt.Errorf("open key %s: decrypted key has id %s", keyID, key.ID())
	}
	return key, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return gcm, nil
}
