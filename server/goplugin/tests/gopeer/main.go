// gopeer plays the host side of go-plugin netrpc against a Rust plugin binary, using the real
// Go implementations: go-plugin v1.7.0 (plugin.NewClient, Dispense, MuxBroker), yamux v0.1.2,
// net/rpc and encoding/gob. Usage: gopeer <plugin-executable>. The executable is started with
// GOPLUGIN_ROLE=echo and must serve an "echo" plugin (see ../gopeer.rs). Prints one line per
// check and exits 1 if any failed.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/yamux"
)

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "MATTERMOST_PLUGIN",
	MagicCookieValue: "Securely message teams, anywhere.",
}

type EchoArgs struct {
	Text string
	Data []byte
}

type CallHostArgs struct {
	Id   uint32
	Size int
}

type CallHostReply struct {
	Len  int
	Sum  uint64
	Text string
}

// echoPlugin gives the host the plugin's *rpc.Client and the broker.
type echoPlugin struct{}

type echoClient struct {
	rpc    *rpc.Client
	broker *plugin.MuxBroker
}

func (echoPlugin) Server(*plugin.MuxBroker) (interface{}, error) { return nil, fmt.Errorf("host only") }
func (echoPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &echoClient{rpc: c, broker: b}, nil
}

// HostService is served on a host-reserved broker id, called by the plugin.
type HostService struct{}

func (HostService) Big(size int, reply *[]byte) error {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i % 251)
	}
	*reply = b
	return nil
}

func (HostService) Hello(name string, reply *string) error {
	*reply = "hello, " + name
	return nil
}

func (HostService) Fail(struct{}, *struct{}) error { return fmt.Errorf("host says no") }

var failures int

func check(name string, err error) {
	if err != nil {
		failures++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	fmt.Printf("ok   %s\n", name)
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// GoEcho is the reference plugin implementation (Go), for latency comparison.
type GoEcho struct{}

func (GoEcho) Echo(a EchoArgs, r *EchoArgs) error { *r = a; return nil }

type goEchoPlugin struct{ echoPlugin }

func (goEchoPlugin) Server(*plugin.MuxBroker) (interface{}, error) { return GoEcho{}, nil }

func main() {
	if os.Getenv("GOPEER_GO_PLUGIN") == "1" {
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: handshake,
			Plugins:         map[string]plugin.Plugin{"echo": goEchoPlugin{}},
		})
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gopeer <plugin-executable>")
		os.Exit(2)
	}
	exe := os.Args[1]
	goPluginSession(exe)
	rawSession(exe, "eof")
	rawSession(exe, "goaway")
	notAPlugin(exe)
	compareLatency(exe)
	if failures > 0 {
		fmt.Printf("%d check(s) failed\n", failures)
		os.Exit(1)
	}
}

// goPluginSession drives the plugin through go-plugin's own client, as Mattermost does.
func goPluginSession(exe string) {
	dir, _ := os.MkdirTemp("", "gopeer")
	defer os.RemoveAll(dir)
	exitFile := filepath.Join(dir, "exit")
	var logBuf, stdoutBuf syncBuffer
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "GOPLUGIN_ROLE=echo", "GOPLUGIN_EXIT_FILE="+exitFile)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"echo": echoPlugin{}},
		Cmd:             cmd,
		StartTimeout:    3 * time.Second, // Mattermost's value
		SyncStdout:      &stdoutBuf,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "gopeer", Level: hclog.Debug, Output: &logBuf,
		}),
	})
	defer client.Kill()

	start := time.Now()
	proto, err := client.Client()
	check("start + handshake + connect (plugin.NewClient/Client)", err)
	if err != nil {
		fmt.Print(logBuf.String())
		return
	}
	fmt.Printf("     startup took %v\n", time.Since(start).Round(time.Millisecond))
	check("Control.Ping", proto.Ping())

	_, err = proto.Dispense("bogus")
	check("Dispense unknown name", expectErr(err, "unknown plugin type: bogus"))

	raw, err := proto.Dispense("echo")
	check("Dispense echo", err)
	if err != nil {
		return
	}
	ec := raw.(*echoClient)

	var out EchoArgs
	err = ec.rpc.Call("Plugin.Echo", EchoArgs{Text: "hi", Data: []byte{1, 2, 3}}, &out)
	if err == nil && (out.Text != "hi" || !bytes.Equal(out.Data, []byte{1, 2, 3})) {
		err = fmt.Errorf("got %+v", out)
	}
	check("small Echo", err)

	// Latency of a tiny call, sequential.
	const n = 2000
	t0 := time.Now()
	for i := 0; i < n && err == nil; i++ {
		err = ec.rpc.Call("Plugin.Echo", EchoArgs{Text: "x"}, &out)
	}
	check("sequential tiny calls", err)
	fmt.Printf("     tiny call round trip: %.1f µs average over %d calls\n",
		float64(time.Since(t0).Microseconds())/n, n)

	for _, size := range []int{300 << 10, 3 << 20, 8<<20 + 13} {
		big := pattern(size, byte(size))
		t0 := time.Now()
		var got EchoArgs
		err = ec.rpc.Call("Plugin.Echo", EchoArgs{Text: "big", Data: big}, &got)
		if err == nil && !bytes.Equal(got.Data, big) {
			err = fmt.Errorf("echoed %d bytes differ", len(got.Data))
		}
		check(fmt.Sprintf("Echo %d bytes both ways", size), err)
		fmt.Printf("     %.1f MiB/s each way\n", float64(size)/(1<<20)/time.Since(t0).Seconds()*2/2)
	}

	// 100 concurrent calls, mixed sizes.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			data := pattern(i*997, byte(i))
			var got EchoArgs
			text := fmt.Sprintf("call-%d", i)
			if err := ec.rpc.Call("Plugin.Echo", EchoArgs{Text: text, Data: data}, &got); err != nil {
				errs <- err
				return
			}
			if got.Text != text || !bytes.Equal(got.Data, data) {
				errs <- fmt.Errorf("call %d: mismatched reply %q", i, got.Text)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	check("100 concurrent calls", <-errs)

	var empty struct{}
	err = ec.rpc.Call("Plugin.Fail", "why", &empty)
	check("handler error", expectErr(err, "handler failed: why"))
	err = ec.rpc.Call("Plugin.Nope", true, &empty)
	check("unknown method", expectErr(err, "rpc: can't find method Plugin.Nope"))
	err = ec.rpc.Call("Other.Echo", true, &empty)
	check("unknown service", expectErr(err, "rpc: can't find service Other.Echo"))
	err = ec.rpc.Call("Plugin.Echo", EchoArgs{Text: "after errors"}, &out)
	check("stream usable after errors", err)

	// Host reserves an id, plugin dials it (like Mattermost's API stream), calls back.
	id := ec.broker.NextId()
	go ec.broker.AcceptAndServe(id, HostService{})
	var reply CallHostReply
	const bigSize = 5<<20 + 1
	err = ec.rpc.Call("Plugin.CallHost", CallHostArgs{Id: id, Size: bigSize}, &reply)
	if err == nil {
		var sum uint64
		for _, b := range (HostService{}).bigBytes(bigSize) {
			sum += uint64(b)
		}
		want := "hello, rust; host says no"
		if reply.Len != bigSize || reply.Sum != sum || reply.Text != want {
			err = fmt.Errorf("got %+v, want len %d sum %d text %q", reply, bigSize, sum, want)
		}
	}
	check("plugin dials host broker id, 5 MiB reply from Go net/rpc", err)

	// Plugin reserves an id, host dials it.
	var pid uint32
	err = ec.rpc.Call("Plugin.Reserve", struct{}{}, &pid)
	if err == nil {
		var conn net.Conn
		conn, err = ec.broker.Dial(pid)
		if err == nil {
			c := rpc.NewClient(conn)
			err = c.Call("Plugin.Echo", EchoArgs{Text: "via broker"}, &out)
			if err == nil && out.Text != "via broker" {
				err = fmt.Errorf("got %q", out.Text)
			}
			c.Close()
		}
	}
	check(fmt.Sprintf("host dials plugin-reserved broker id %d", pid), err)

	// println! in the plugin lands on the host's stdout stream, not the real stdout.
	err = ec.rpc.Call("Plugin.Print", "printed by the plugin", &empty)
	if err == nil {
		err = waitFor(func() bool { return strings.Contains(stdoutBuf.String(), "printed by the plugin") })
	}
	check("plugin stdout forwarded to stream 3", err)

	check("Control.Ping after all that", proto.Ping())

	t0 = time.Now()
	client.Kill()
	fmt.Printf("     Kill took %v\n", time.Since(t0).Round(time.Millisecond))
	err = nil
	if !client.Exited() {
		err = fmt.Errorf("process still running")
	} else if strings.Contains(logBuf.String(), "plugin failed to exit gracefully") {
		err = fmt.Errorf("plugin had to be force-killed")
	} else if b, _ := os.ReadFile(exitFile); string(b) != "echo: serve returned ok" {
		err = fmt.Errorf("exit file says %q", b)
	}
	check("Kill: Control.Quit answered, graceful exit, serve returned", err)
	if failures > 0 {
		fmt.Print("---- go-plugin log ----\n" + logBuf.String())
	}
}

func (HostService) bigBytes(size int) []byte {
	var b []byte
	_ = HostService{}.Big(size, &b)
	return b
}

// rawSession starts the plugin by hand and ends the connection without Control.Quit:
// "eof" closes the socket, "goaway" sends yamux GoAway. The plugin must exit 0 by itself.
func rawSession(exe, mode string) {
	name := "raw session ends by " + mode + ": plugin exits 0"
	dir, _ := os.MkdirTemp("", "gopeer")
	defer os.RemoveAll(dir)
	exitFile := filepath.Join(dir, "exit")
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "GOPLUGIN_ROLE=raw-"+mode, "GOPLUGIN_EXIT_FILE="+exitFile,
		handshake.MagicCookieKey+"="+handshake.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1",
		"PLUGIN_UNIX_SOCKET_DIR="+dir)
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		check(name, err)
		return
	}
	done := make(chan error, 1)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() { done <- cmd.Wait() }()
	if err != nil {
		check(name, fmt.Errorf("reading handshake: %v", err))
		return
	}
	parts := strings.Split(strings.TrimSpace(line), "|")
	if len(parts) != 6 || parts[0] != "1" || parts[1] != "1" || parts[2] != "unix" || parts[4] != "netrpc" || parts[5] != "" {
		check(name, fmt.Errorf("bad handshake line %q", line))
		return
	}
	if filepath.Dir(parts[3]) != dir {
		check(name, fmt.Errorf("socket %s not in PLUGIN_UNIX_SOCKET_DIR %s", parts[3], dir))
		return
	}
	conn, err := net.Dial("unix", parts[3])
	if err != nil {
		check(name, err)
		return
	}
	sess, _ := yamux.Client(conn, nil)
	control, _ := sess.Open()
	s3, _ := sess.Open()
	s5, _ := sess.Open()
	_, _ = s3, s5
	c := rpc.NewClient(control)
	var empty struct{}
	if err := c.Call("Control.Ping", true, &empty); err != nil {
		check(name, fmt.Errorf("ping: %v", err))
		return
	}
	if _, err := os.Stat(parts[3]); err == nil {
		check(name, fmt.Errorf("socket file %s still exists after connect", parts[3]))
		return
	}
	if mode == "goaway" {
		_ = sess.GoAway()
	} else {
		_ = conn.Close()
	}
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		err = fmt.Errorf("plugin did not exit within 20 s")
	}
	if err == nil {
		if b, _ := os.ReadFile(exitFile); string(b) != "raw-"+mode+": serve returned ok" {
			err = fmt.Errorf("exit file says %q", b)
		}
	}
	if err != nil {
		err = fmt.Errorf("%v; stderr:\n%s", err, stderr.String())
	}
	sess.Close()
	check(name, err)
}

// notAPlugin runs the binary without the cookie: Go's message, exit status 1, no stdout.
func notAPlugin(exe string) {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "GOPLUGIN_ROLE=manual")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exitErr, ok := err.(*exec.ExitError)
	switch {
	case !ok || exitErr.ExitCode() != 1:
		err = fmt.Errorf("want exit status 1, got %v", err)
	case !strings.Contains(stderr.String(), "This binary is a plugin. These are not meant to be executed directly."):
		err = fmt.Errorf("stderr: %q", stderr.String())
	case stdout.Len() != 0:
		err = fmt.Errorf("stdout not empty: %q", stdout.String())
	default:
		err = nil
	}
	check("started by hand: message and exit status 1", err)
}

func expectErr(err error, want string) error {
	if err == nil {
		return fmt.Errorf("expected error %q, got success", want)
	}
	if err.Error() != want {
		return fmt.Errorf("expected error %q, got %q", want, err.Error())
	}
	return nil
}

func waitFor(cond func() bool) error {
	for i := 0; i < 200; i++ {
		if cond() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("condition not met within 10 s")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// compareLatency measures tiny-call round trips against the Rust plugin and against the same
// service written in Go (this binary as a go-plugin plugin), alternating to share the load.
func compareLatency(exe string) {
	self, _ := os.Executable()
	var rust, gol []float64
	for round := 0; round < 3; round++ {
		r, err := tinyCallMicros(exec.Command(exe), "GOPLUGIN_ROLE=echo")
		check(fmt.Sprintf("latency round %d (Rust plugin)", round), err)
		g, err := tinyCallMicros(exec.Command(self), "GOPEER_GO_PLUGIN=1")
		check(fmt.Sprintf("latency round %d (Go plugin)", round), err)
		rust, gol = append(rust, r), append(gol, g)
	}
	best := func(v []float64) float64 {
		m := v[0]
		for _, x := range v {
			if x < m {
				m = x
			}
		}
		return m
	}
	fmt.Printf("     tiny call round trip, best of 3 x 2000: Rust plugin %.1f µs, Go plugin %.1f µs (ratio %.2f)\n",
		best(rust), best(gol), best(rust)/best(gol))
}

func tinyCallMicros(cmd *exec.Cmd, env string) (float64, error) {
	cmd.Env = append(os.Environ(), env)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"echo": echoPlugin{}},
		Cmd:             cmd,
		Logger:          hclog.NewNullLogger(),
	})
	defer client.Kill()
	proto, err := client.Client()
	if err != nil {
		return 0, err
	}
	raw, err := proto.Dispense("echo")
	if err != nil {
		return 0, err
	}
	c := raw.(*echoClient).rpc
	var out EchoArgs
	for i := 0; i < 200; i++ { // warm-up
		if err := c.Call("Plugin.Echo", EchoArgs{Text: "x"}, &out); err != nil {
			return 0, err
		}
	}
	const n = 2000
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if err := c.Call("Plugin.Echo", EchoArgs{Text: "x"}, &out); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(t0).Microseconds()) / n, nil
}
