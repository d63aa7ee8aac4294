package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fedgate/fedgate/shared/localaws"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// TestPackagedBinariesUnderRIE builds every function's bootstrap for this
// host and invokes it once with its sample event under the Lambda Runtime
// Interface Emulator, configured through the environment as in AWS and
// talking to moto_server: it catches wiring and cold-start errors that
// handler tests miss. make test installs the emulator (pinned) and sets
// FEDGATE_RIE; a plain go test without it skips.
func TestPackagedBinariesUnderRIE(t *testing.T) {
	t.Parallel()
	rie := os.Getenv("FEDGATE_RIE")
	if rie == "" {
		t.Skip("FEDGATE_RIE not set (make test sets it)")
	}
	if _, err := os.Stat(rie); err != nil {
		t.Fatalf("FEDGATE_RIE=%s: %v", rie, err)
	}
	ctx := context.Background()
	endpoint := awstest.Endpoint(t)
	bin := t.TempDir()
	// With make build's -tags but the build flags of this test binary
	// (make test's -race) rather than make build's -trimpath and
	// CGO_ENABLED=0: every package is then already compiled, where make
	// build's flags would compile the SDK and the standard library once more
	// (minutes on a fresh machine). make build still builds with its own.
	// Stripped as make build strips them: linking twenty binaries is most
	// of this build, and without symbols it takes a third less.
	args := append([]string{"build", "-tags", "lambda.norpc", "-ldflags", "-s -w"}, raceFlags...)
	build := exec.Command("go", append(args, "-o", bin+"/", "./functions/...")...)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// Resources, named through the environment as the CDK stack does.
	awsCfg := localaws.Config(endpoint)
	prefix := awstest.Prefix(t)
	env := []string{
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION=" + localaws.Region, "AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local", "AWS_EC2_METADATA_DISABLED=true",
		// Not in development mode: a deployed function refuses it.
		"INSTANCE_URL=https://rie.example.org", "INSTANCE_NAME=rie", "SIGNING_ALG=EdDSA",
	}
	names := store.PrefixedNames(prefix)
	if err := store.CreateTables(ctx, awsCfg, names); err != nil {
		t.Fatal(err)
	}
	for logical, physical := range names {
		env = append(env, store.EnvVar(logical)+"="+physical)
	}
	urls, _, err := queue.Create(ctx, sqs.NewFromConfig(awsCfg), prefix, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for name, url := range urls {
		env = append(env, queue.URLEnvVar(name)+"="+url)
	}
	key, err := kms.NewFromConfig(awsCfg).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("rie")})
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "KMS_KEY_ID="+aws.ToString(key.KeyMetadata.KeyId))

	for _, r := range routes.All {
		t.Run(r.Name, func(t *testing.T) {
			event, err := os.ReadFile(filepath.Join("..", "events", r.Name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			out := invokeUnderRIE(t, rie, filepath.Join(bin, r.Name), env, event)
			if bytes.Contains(out, []byte(`"errorType"`)) {
				t.Fatalf("function error: %s", out)
			}
			if r.IsHTTP() {
				var resp struct {
					StatusCode int    `json:"statusCode"`
					Body       string `json:"body"`
				}
				if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode == 0 || resp.StatusCode >= 500 && resp.StatusCode != 502 {
					t.Fatalf("response %s", out)
				}
				if !json.Valid([]byte(resp.Body)) {
					t.Fatalf("body is not JSON: %q", resp.Body)
				}
			}
		})
	}
}

// invokeUnderRIE starts the emulator around one bootstrap, invokes it once
// and returns the payload.
func invokeUnderRIE(t *testing.T, rie, bootstrap string, env []string, event []byte) []byte {
	t.Helper()
	port, _ := localaws.FreePort()
	apiPort, _ := localaws.FreePort()
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), bootstrap)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("emulator output:\n%s", tail(logs.String(), 3000))
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("emulator did not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port), "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
