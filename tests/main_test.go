package tests

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// e2eParallel is how many end-to-end tests run at once unless -parallel
// says otherwise. Each test has its own cluster (tables, queues, ports) and
// spends most of its time waiting on peers, retries and schedules, so more
// run at once than the machine has cores (go test's default -parallel);
// moto, one Python process serving DynamoDB one request at a time, is what
// limits it.
const e2eParallel = 6

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(e2eParallel))
	}
	os.Exit(m.Run())
}
