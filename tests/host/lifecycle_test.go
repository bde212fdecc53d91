package hosttest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// If the server dies, the plugin must not linger: a native plugin exits when its
// connection closes (protocol.md §5.8). A Go plugin keeps listening, so go-hello is
// exempt. This drives the executable directly: handshake line, one dial, close.
func TestExitsWhenHostConnectionCloses(t *testing.T) {
	if pluginID == "go-hello" {
		t.Skip("Go SDK plugins keep running after the host connection closes")
	}
	cmd := exec.Command(pluginBin)
	cmd.Env = append(os.Environ(),
		"MATTERMOST_PLUGIN=Securely message teams, anywhere.",
		"PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading handshake line: %v", err)
	}
	fields := strings.Split(strings.TrimSpace(line), "|")
	if len(fields) < 5 || fields[0] != "1" || fields[1] != "1" || fields[4] != "netrpc" {
		t.Fatalf("handshake line %q", line)
	}
	conn, err := net.Dial(fields[2], fields[3])
	if err != nil {
		t.Fatalf("dial %s %s: %v", fields[2], fields[3], err)
	}
	go func() { done <- cmd.Wait() }()
	_ = conn.Close()
	select {
	case err := <-done:
		t.Logf("plugin exited after the connection closed: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("plugin still running 15 s after its host connection closed")
	}
	if fields[2] == "unix" {
		if _, err := os.Stat(fields[3]); err == nil {
			t.Errorf("socket file %s left behind", fields[3])
		}
	}
}
