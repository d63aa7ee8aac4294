package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// fixture is one instance's storage: fresh tables and a fresh KMS key.
type fixture struct {
	repo   *store.Instance
	sealer identity.Sealer
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	return fixture{
		repo:   awstest.Store(t).Instance,
		sealer: signing.NewSealer(kms.NewFromConfig(awstest.Config(t)), awstest.KMSKey(t)),
	}
}

// service is what a cold start builds over the fixture.
func (f fixture) service(s identity.Settings) *identity.Service {
	if s.URL == "" {
		s.URL = "http://127.0.0.1:9"
	}
	if s.Alg == "" {
		s.Alg = signing.EdDSA
	}
	return identity.New(f.repo, f.sealer, s)
}

func newService(t *testing.T) *identity.Service { return newFixture(t).service(identity.Settings{}) }

func TestEnsureCreatesOnceUnderRace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	settings := identity.Settings{Alg: signing.RS256, URL: "https://hub.example.org"}
	// Several cold starts of different functions race to create the identity.
	var wg sync.WaitGroup
	ids := make([]string, 5)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := f.service(settings).Ensure(ctx)
			if err != nil {
				t.Errorf("Ensure: %v", err)
				return
			}
			ids[i] = rec.InstanceID
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("cold starts disagree on the identity: %v", ids)
		}
	}
	doc, err := f.service(settings).Document(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if doc.InstanceID != ids[0] || doc.URL != settings.URL || len(doc.PublicKeys) != 1 ||
		doc.PublicKeys[0].Alg != "RS256" || doc.PublicKeys[0].Status != "current" || doc.KeyID != doc.PublicKeys[0].KeyID {
		t.Fatalf("document %+v", doc)
	}
	pub, err := signing.ParsePublicKeyPEM(signing.RS256, doc.PublicKey)
	if err != nil || pub.ID() != doc.KeyID {
		t.Fatalf("published key does not parse to its id: %v", err)
	}
	raw, _ := json.Marshal(doc)
	if strings.Contains(strings.ToLower(string(raw)), "private") || strings.Contains(string(raw), "sealed") {
		t.Fatalf("document leaks private material: %s", raw)
	}
}

func TestSignerAndRotation(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	signer, err := svc.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := svc.Document(ctx)
	if signer.ID() != doc.KeyID {
		t.Fatalf("signer %s, current key %s", signer.ID(), doc.KeyID)
	}
	msg := []byte("hello")
	sig, _ := signer.Sign(msg)
	pub, _ := signing.ParsePublicKeyPEM(signing.EdDSA, doc.PublicKey)
	if err := pub.Verify(msg, sig); err != nil {
		t.Fatalf("signature by the decrypted key does not verify with the published key: %v", err)
	}

	rotated, err := svc.RotateKeys(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KeyID == doc.KeyID || len(rotated.PublicKeys) != 2 {
		t.Fatalf("after rotation: current %s, keys %+v", rotated.KeyID, rotated.PublicKeys)
	}
	for _, k := range rotated.PublicKeys {
		if want := map[bool]string{true: "current", false: "retired"}[k.KeyID == rotated.KeyID]; k.Status != want {
			t.Errorf("key %s status %s, want %s", k.KeyID, k.Status, want)
		}
	}
	newSigner, err := svc.Signer(ctx)
	if err != nil || newSigner.ID() != rotated.KeyID {
		t.Fatalf("signer after rotation: %v %v", newSigner, err)
	}
}

func TestRetiredKeysExpireAfterGrace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	svc := f.service(identity.Settings{RetiredGrace: time.Second})
	first, _ := svc.Document(ctx)
	if _, err := svc.RotateKeys(ctx, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // grace of 1 s has passed
	doc, err := svc.Document(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.PublicKeys) != 1 || doc.PublicKeys[0].KeyID == first.KeyID {
		t.Fatalf("retired key still published after its grace: %+v", doc.PublicKeys)
	}
	third, err := svc.RotateKeys(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := f.repo.Get(ctx)
	if len(rec.Keys) != 2 || len(third.PublicKeys) != 2 {
		t.Fatalf("rotation kept %d stored keys, want the current and the just-retired one", len(rec.Keys))
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	name := "renamed"
	cmds := []string{"agent.spawn"}
	meta := json.RawMessage(`{"region":"eu-west-1"}`)
	doc, err := svc.Update(ctx, identity.Patch{
		Name: &name, Capabilities: &identity.CapabilityPatch{CommandTypes: &cmds}, Metadata: &meta,
	})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := svc.Document(ctx)
	for _, d := range []identity.Document{doc, again} {
		if d.Name != "renamed" || len(d.Capabilities.CommandTypes) != 1 || string(d.Metadata) != `{"region":"eu-west-1"}` ||
			d.Capabilities.ProtocolVersion != "1" || len(d.Capabilities.MessageTypes) != 9 {
			t.Fatalf("document after update: %+v", d)
		}
	}
}

func TestEscrowRoundTrip(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	before, _ := svc.Document(ctx)
	if _, err := svc.RotateKeys(ctx, false); err != nil {
		t.Fatal(err)
	}
	escrow, err := svc.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A new server: other tables, another KMS key.
	b := newService(t)
	if err := b.Import(ctx, escrow); err != nil {
		t.Fatal(err)
	}
	if err := b.Import(ctx, escrow); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second import: %v, want ErrExists", err)
	}
	got, _ := b.Document(ctx)
	if got.InstanceID != before.InstanceID || len(got.PublicKeys) != 2 {
		t.Fatalf("imported identity %+v", got)
	}
	signer, err := b.Signer(ctx)
	if err != nil || signer.ID() != got.KeyID {
		t.Fatalf("imported key does not open under the new KMS key: %v", err)
	}
}

// Settings that come from the deployment follow it: a changed COMMAND_TYPES
// is in force after the next start, and a PATCH lasts until then.
func TestDeploymentSettingsFollowTheDeployment(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first := f.service(identity.Settings{CommandTypes: []string{"agent.spawn"}})
	if doc, _ := first.Document(ctx); strings.Join(doc.Capabilities.CommandTypes, ",") != "agent.spawn" {
		t.Fatalf("first start: %v", doc.Capabilities.CommandTypes)
	}
	patched := []string{"agent.spawn", "task.create"}
	if _, err := first.Update(ctx, identity.Patch{Capabilities: &identity.CapabilityPatch{CommandTypes: &patched}}); err != nil {
		t.Fatal(err)
	}
	same := f.service(identity.Settings{CommandTypes: []string{"agent.spawn"}})
	if doc, _ := same.Document(ctx); len(doc.Capabilities.CommandTypes) != 2 {
		t.Fatalf("an unchanged deployment undid the PATCH: %v", doc.Capabilities.CommandTypes)
	}
	redeployed := f.service(identity.Settings{CommandTypes: []string{"agent.status"}, EventTypes: []string{"task.created"}})
	doc, err := redeployed.Document(ctx)
	if err != nil || strings.Join(doc.Capabilities.CommandTypes, ",") != "agent.status" || strings.Join(doc.Capabilities.EventTypes, ",") != "task.created" {
		t.Fatalf("after a deploy with new settings: %+v %v", doc.Capabilities, err)
	}
}

// A revoked key leaves the document at once (not retired), the signer moves
// to the new key, and however many rotations, at most ten keys are
// published: the oldest retired ones go first.
func TestRevokeAndTheKeyBound(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	first, _ := svc.Document(ctx)
	revoked, err := svc.RotateKeys(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked.PublicKeys) != 1 || revoked.PublicKeys[0].KeyID == first.KeyID {
		t.Fatalf("after revoke: %+v", revoked.PublicKeys)
	}
	if s, err := svc.Signer(ctx); err != nil || s.ID() != revoked.KeyID {
		t.Fatalf("signer after revoke: %v %v", s, err)
	}
	var last identity.Document
	var ids []string
	for range 12 {
		if last, err = svc.RotateKeys(ctx, false); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, last.KeyID)
	}
	if len(last.PublicKeys) != identity.MaxPublishedKeys {
		t.Fatalf("%d keys published, want %d", len(last.PublicKeys), identity.MaxPublishedKeys)
	}
	for i, k := range last.PublicKeys {
		if k.KeyID != ids[len(ids)-1-i] {
			t.Fatalf("key %d is %s, want the newest first (%v)", i, k.KeyID, ids)
		}
	}
}
