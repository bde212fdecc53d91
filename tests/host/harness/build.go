package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// ModuleRoot is the directory of the tests/host module (from this file's location).
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate harness sources")
	}
	return filepath.Dir(filepath.Dir(file)), nil
}

// BuildRefPlugin builds the Go reference plugin (go-hello) into outDir and returns
// the executable's path. stripped adds -ldflags "-s -w" (what the benchmark measures).
// GOFLAGS from the environment (e.g. -modfile=go.v010.mod) apply, so the plugin is
// built against the same server/public version as the host under test.
func BuildRefPlugin(outDir string, stripped bool) (string, error) {
	return buildPackage("./refplugin", filepath.Join(outDir, "go-hello"), stripped)
}

// BuildRefProbe builds go-probe, the Go implementation of the rs-probe contract.
func BuildRefProbe(outDir string) (string, error) {
	return buildPackage("./refprobe", filepath.Join(outDir, "go-probe"), false)
}

func buildPackage(pkg, out string, stripped bool) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", out}
	if stripped {
		args = append(args, "-ldflags", "-s -w")
	}
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return out, nil
}
