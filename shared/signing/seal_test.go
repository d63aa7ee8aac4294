package signing_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/signing"
)

// Sealing goes through the real KMS API (moto_server): GenerateDataKey with an
// encryption context, then Decrypt.
func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	client := kms.NewFromConfig(awstest.Config(t))
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("seal test")})
	if err != nil {
		t.Fatal(err)
	}
	sealer := signing.NewSealer(client, aws.ToString(out.KeyMetadata.KeyId))
	for _, alg := range []signing.Alg{signing.RS256, signing.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			key, _ := signing.GenerateKey(alg)
			sealed, err := sealer.Seal(ctx, "inst-1", key)
			if err != nil {
				t.Fatal(err)
			}
			der, _ := key.MarshalPKCS8()
			if len(sealed.Ciphertext) == 0 || string(sealed.Ciphertext) == string(der) {
				t.Fatal("ciphertext missing or equal to the plaintext")
			}
			opened, err := sealer.Open(ctx, "inst-1", key.ID(), alg, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if opened.ID() != key.ID() {
				t.Fatalf("opened key %s, want %s", opened.ID(), key.ID())
			}
			// The encryption context binds the ciphertext to its instance and key id.
			if _, err := sealer.Open(ctx, "inst-2", key.ID(), alg, sealed); err == nil {
				t.Error("opened under another instance id")
			}
			if _, err := sealer.Open(ctx, "inst-1", "other-key", alg, sealed); err == nil {
				t.Error("opened under another key id")
			}
			broken := sealed
			broken.Ciphertext = append([]byte{}, sealed.Ciphertext...)
			broken.Ciphertext[0] ^= 1
			if _, err := sealer.Open(ctx, "inst-1", key.ID(), alg, broken); err == nil {
				t.Error("opened a tampered ciphertext")
			}
		})
	}
}
