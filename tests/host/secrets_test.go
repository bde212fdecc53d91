package hosttest

// The suite-wide secret scan: after every test of the package ran, nothing a plugin
// produced (plugin and host logs, posts, KV values, events, files, hook errors) may hold a
// secret value a test registered with harness.RegisterSecret. The scanner's own check is
// harness/secrets_test.go.

import (
	"fmt"
	"os"

	"datasync/tests/host/harness"
)

// scanSecrets runs the scan; 1 when a secret was found (each find printed), else 0.
func scanSecrets() int {
	leaks := harness.ScanSecrets()
	values := harness.DefaultSecrets.Values()
	if len(leaks) == 0 {
		fmt.Fprintf(os.Stderr, "host tests: secret scan: %d secret values, no leak\n", len(values))
		return 0
	}
	fmt.Fprintf(os.Stderr, "host tests: secret scan FAILED: %d leaks of %d secret values\n", len(leaks), len(values))
	for _, l := range leaks {
		fmt.Fprintln(os.Stderr, "  LEAK:", l)
	}
	fmt.Println("FAIL: the secret scan found secrets in plugin output (see above)")
	return 1
}
