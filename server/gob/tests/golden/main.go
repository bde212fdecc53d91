// Command golden writes and checks gob test vectors for the Rust `gob` crate.
//
// Regenerate the committed vectors (run from the repository root: `make gob-golden`):
//
//	cd server/gob/tests/golden && go run . gen ../data
//
// For each case it writes <case>.bin (the bytes Go's encoding/gob produced,
// one fresh Encoder per case, possibly several values) and <case>.json (an
// array with one entry per value: the value as JSON with Go field names,
// interfaces transparent, []byte and marshaled payloads as in the Rust
// crate's Value::to_json). index.txt lists the cases.
//
//	go run . verify DIR
//
// decodes every DIR/<case>.bin (or DIR/typed_<case>.bin) written by the Rust
// tests with Go's decoder into the real types of <case> and compares the
// result with what Go itself decodes from its own encoding of the same values.
package main

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/rpc"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

type testCase struct {
	name   string
	values []any // each is encoded with one Encode call, in order, on one encoder
}

// Kinds covers zero-value omission for every kind of field.
type Kinds struct {
	B     bool
	I     int
	I8    int8
	I64   int64
	U     uint
	U32   uint32
	F32   float32
	F64   float64
	S     string
	Bs    []byte
	Ss    []string
	M     map[string]int
	P     *Inner
	N     Inner
	A     [2]int
	Any   any
	Err   error
	C     complex128
	skip  int //nolint:unused // unexported: never sent
	Fn    func()
	Ch    chan int
	Empty struct{}
}

type Inner struct {
	X, Y int
	Name string
}

type Nested struct {
	Inner   Inner
	PInner  *Inner
	PEmpty  *Inner
	PNil    *Inner
	Inners  []Inner
	PInners []*Inner
	ByName  map[string]*Inner
	Grid    [2][3]int8
}

type WithURL struct {
	Name string
	U    *url.URL
	T    time.Time
	Tp   *time.Time
}

type Point struct{ X, Y int }

// LegacyServeHTTPArgs is Z_ServeHTTPArgs as servers before v10.7 sent it:
// a full *http.Request, whose definition pulls in TLS, x509, big.Int, ...
type LegacyServeHTTPArgs struct {
	ResponseWriterStream uint32
	Request              *http.Request
	Context              *plugin.Context
	RequestBodyStream    uint32
}

// SplitT is issue 13's minimal reproduction: an interface element whose concrete
// type is new to the stream makes Go end the message after the element count.
type SplitT struct{ A int }

// SplitU and SplitV are more struct types first seen inside a container.
type SplitU struct {
	Name string
	N    int64
}
type SplitV struct{ Tags []string }

// Node is a linked list: Go decodes any length; ours stops at Limits::max_depth.
type Node struct {
	V    int
	Next *Node
}

// RS and RM are recursive non-struct types.
type RS []RS
type RM map[string]RM

// Complexes has both of Go's complex kinds.
type Complexes struct {
	C64  complex64
	C128 complex128
}

// Utf8Case carries strings that are not valid UTF-8 (Go strings hold any bytes).
type Utf8Case struct {
	S    string
	Keys map[string]int
	List []string
}

func init() {
	gob.RegisterName("T", SplitT{})
	gob.RegisterName("U", &SplitU{})
	gob.RegisterName("V", SplitV{})
	gob.RegisterName("RS", RS{})
	gob.RegisterName("RM", RM{})
	gob.RegisterName("Node", &Node{})
}

func linkedList(n int) *Node {
	var head *Node
	for i := n; i > 0; i-- {
		head = &Node{V: i, Next: head}
	}
	return head
}

// nestedAny is []any{[]any{... nil}} n levels deep.
func nestedAny(n int) any {
	var x any
	for i := 0; i < n; i++ {
		x = []any{x}
	}
	return x
}

// splitSlice is a []any whose elements introduce new types at several positions.
func splitSlice() []any {
	v := make([]any, 40)
	v[0] = SplitT{A: 1}
	v[3] = "plain"
	v[10] = &SplitU{Name: "u", N: -5}
	v[17] = []any{int64(1), SplitV{Tags: []string{"x"}}}
	v[25] = map[string]any{"rs": RS{RS{}}, "t": SplitT{A: 2}}
	v[39] = SplitT{}
	return v
}

// splitMap is a map[string]any whose values introduce new types.
func splitMap() map[string]any {
	// Every value is a type new to the stream, so whichever entry Go sends first splits
	// the message right after the count.
	m := map[string]any{}
	for i := 0; i < 40; i++ {
		m[fmt.Sprintf("k%02d", i)] = SplitT{A: i}
	}
	m["k12"] = &SplitU{Name: "twelve"}
	m["k20"] = []any{SplitV{Tags: []string{"a", "b"}}}
	m["k29"] = RM{"x": RM{}}
	return m
}

// postList is a GetPostsForChannel/GetPostsSince reply of 200 posts; slack(i) says
// which posts carry typed Slack attachments (a type first sent inside Props, so Go
// splits the message there), anyAttach(i) which carry them as plain []any /
// map[string]any, and post 101 holds 50 []any props.
func postList(slack, anyAttach func(i int) bool) *plugin.Z_GetPostsForChannelReturns {
	list := model.NewPostList()
	for i := 0; i < 200; i++ {
		p := &model.Post{
			Id:        fmt.Sprintf("post%03d", i),
			CreateAt:  1700000000000 + int64(i),
			UserId:    "bot-user-id",
			ChannelId: "channel-id",
			Message:   fmt.Sprintf("row %d changed", i),
			Props:     model.StringInterface{"from_bot": "true"},
		}
		switch {
		case slack(i):
			p.Props["attachments"] = []*model.SlackAttachment{{
				Color: "#ff0000", Title: fmt.Sprintf("row %d", i), Text: "body",
				Fields: []*model.SlackAttachmentField{{Title: "k", Value: "v", Short: true}},
			}}
		case anyAttach(i):
			p.Props["attachments"] = []any{map[string]any{
				"title": fmt.Sprintf("row %d", i), "fields": []any{map[string]any{"title": "n", "value": int64(i)}},
			}}
		case i == 101:
			for k := 0; k < 50; k++ {
				p.Props[fmt.Sprintf("p%02d", k)] = []any{"x", int64(k)}
			}
		}
		list.AddPost(p)
		list.AddOrder(p.Id)
	}
	return &plugin.Z_GetPostsForChannelReturns{A: list}
}

// fiftyAnyProps is a post whose props hold 50 []any entries: the map's count always
// exceeds the bytes before the first definition.
func fiftyAnyProps() *plugin.Z_CreatePostArgs {
	p := &model.Post{ChannelId: "c", Message: "many props", Props: model.StringInterface{}}
	for k := 0; k < 50; k++ {
		p.Props[fmt.Sprintf("p%02d", k)] = []any{int64(k)}
	}
	return &plugin.Z_CreatePostArgs{A: p}
}

// issue13Repro is the issue's reproduction with more elements: with our longer type
// name and ids, 30 would still fit in the bytes before the split.
func issue13Repro() []any {
	v := make([]any, 60)
	v[0] = SplitT{}
	return v
}

func splitArray() [60]any {
	var a [60]any
	a[0] = SplitT{A: 3}
	a[20] = &SplitU{Name: "arr"}
	return a
}

func cases() []testCase {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	u, _ := url.Parse("https://example.com/api/v1/hello?x=1&y=%20z#frag")
	remote := "remote-1"
	following := true

	autocomplete := model.NewAutocompleteData("datasync", "[command]", "Data Sync commands")
	run := model.NewAutocompleteData("run", "[sync]", "Run a sync now")
	run.AddTextArgument("Sync name", "[name]", "")
	run.AddNamedStaticListArgument("mode", "Run mode", false, []model.AutocompleteListItem{
		{Item: "full", HelpText: "Full refresh"}, {Item: "incremental", Hint: "inc", HelpText: "Only changes"},
	})
	list := model.NewAutocompleteData("list", "", "List syncs")
	dyn := model.NewAutocompleteData("status", "", "Show status")
	dyn.AddDynamicListArgument("Sync", "/plugins/datasync/autocomplete/syncs", true)
	autocomplete.AddCommand(run)
	autocomplete.AddCommand(list)
	autocomplete.AddCommand(dyn)

	post := &model.Post{
		Id:          "p1",
		CreateAt:    1700000000000,
		UserId:      "bot-user-id",
		ChannelId:   "channel-id",
		Message:     "Sync **orders** finished: 42 rows",
		Type:        "custom_datasync",
		FileIds:     model.StringArray{"f1", "f2"},
		RemoteId:    &remote,
		IsFollowing: &following,
		Props: model.StringInterface{
			"from_bot": "true",
			"rows":     int64(42),
			"ratio":    0.5,
			"ok":       true,
			"attachments": []any{
				map[string]any{
					"color": "#00ff00", "title": "orders", "text": "42 rows",
					"fields": []any{map[string]any{"title": "Rows", "value": "42", "short": true}},
				},
			},
		},
		Metadata: &model.PostMetadata{Recipients: []string{"u1"}},
	}
	slackPost := &model.Post{
		ChannelId: "c",
		Message:   "with attachments",
		Props: model.StringInterface{
			"attachments": []*model.SlackAttachment{{
				Color: "#ff0000", Title: "T", Text: "body",
				Fields: []*model.SlackAttachmentField{{Title: "k", Value: "v", Short: true}},
			}},
		},
	}
	appErr := &model.AppError{Id: "app.sync.failed", Message: "sync failed", DetailedError: "db down",
		RequestId: "r1", StatusCode: 500, Where: "Sync.Run"}

	header := http.Header{"Mattermost-User-Id": {"abc"}, "Accept": {"text/html", "application/json"}}
	hu, _ := url.Parse("/api/v1/hello?x=1")

	legacyReq, _ := http.NewRequest("POST", "http://localhost:8065/plugins/x/api/v1/hello?x=1", nil)
	legacyReq.Header = header
	legacyReq.Body = nil
	legacyReq.RequestURI = "/plugins/x/api/v1/hello?x=1"
	legacyReq.RemoteAddr = "127.0.0.1:5555"

	return []testCase{
		{"bool", []any{true, false}},
		{"ints", []any{0, 1, -1, 3, 300, -129, int64(math.MaxInt64), int64(math.MinInt64), int8(-128)}},
		{"uints", []any{uint(0), uint8(7), uint16(256), uint32(70000), uint64(math.MaxUint64)}},
		{"floats", []any{0.0, 1.5, 17.0, -2.25, 1e300, float32(3.25), math.SmallestNonzeroFloat64}},
		{"complex", []any{complex(1.5, -2)}},
		{"strings", []any{"", "hello", "héllo ✓ 日本語 🎉"}},
		{"bytes", []any{[]byte{}, []byte{0, 1, 2, 255}, []byte("text")}},
		{"slices", []any{[]string{"a", "", "c"}, []int64{-1, 0, 1}, [][]string{{"x"}, {}}, []bool{}}},
		{"arrays", []any{[3]int{1, 0, -1}, [2]string{"", ""}}},
		{"maps", []any{map[string]int{"a": 1, "z": 0}, map[int64]string{-5: "neg", 7: ""}, map[string][]string{"k": {"v1", "v2"}}}},
		{"struct_zero", []any{&Kinds{}, &Kinds{B: true, I: -7, I8: 8, I64: 1 << 40, U: 9, U32: 70000, F32: 0.25, F64: -1.5,
			S: "s", Bs: []byte{1}, Ss: []string{"x"}, M: map[string]int{"m": 0}, P: &Inner{X: 1}, N: Inner{Name: "n"},
			A: [2]int{0, 3}, Any: "iface", Err: &plugin.ErrorString{Code: 0, Err: "e"}, C: 1i}}},
		{"struct_empty_map", []any{&Kinds{M: map[string]int{}}}},
		{"nested", []any{&Nested{PInner: &Inner{Y: 2}, PEmpty: &Inner{}, Inners: []Inner{{}, {X: 1}},
			PInners: []*Inner{{Name: "a"}}, ByName: map[string]*Inner{"k": {X: -1}}, Grid: [2][3]int8{{1, 2, 3}, {0, 0, -1}}}}},
		{"points_stream", []any{Point{1, 2}, Point{}, &Point{X: -3}, []Point{{5, 6}}, Point{Y: 9}}},
		{"iface_basic", []any{map[string]any{
			"string": "v", "bool": true, "int": 5, "int8": int8(-8), "int16": int16(16), "int32": int32(-32), "int64": int64(5),
			"uint": uint(1), "uint8": uint8(8), "uint16": uint16(16), "uint32": uint32(32), "uint64": uint64(math.MaxUint64),
			"float32": float32(1.5), "float64": 1.5, "bytes": []byte("hi"), "strings": []string{"a", "b"},
			"nil": nil, "zero_string": "", "zero_int": 0,
		}}},
		{"iface_nested", []any{[]any{"a", int64(1), []any{true, []any{"deep"}}, map[string]any{"m": map[string]any{"x": 1.5}, "l": []any{}}, nil}}},
		{"iface_nested_twice", []any{
			map[string]any{"a": []any{map[string]any{"b": "c"}}},
			map[string]any{"a": []any{map[string]any{"b": int64(2)}}, "n": nil},
		}},
		{"error_app", []any{&plugin.Z_OnActivateReturns{A: appErr}}},
		{"error_string", []any{&plugin.Z_EnsureBotUserReturns{B: &plugin.ErrorString{Code: 0, Err: "username taken"}}}},
		{"error_nil", []any{&plugin.Z_OnActivateReturns{}}},
		{"url_time", []any{&WithURL{Name: "u", U: u, T: ts, Tp: &ts}, u}},
		{"rpc_headers", []any{
			&rpc.Request{ServiceMethod: "Plugin.OnActivate", Seq: 0}, &plugin.Z_OnActivateArgs{APIMuxId: 1, DriverMuxId: 2},
			&rpc.Request{ServiceMethod: "Plugin.KVGet", Seq: 7}, &struct{}{},
			&rpc.Response{ServiceMethod: "Plugin.Foo", Seq: 8, Error: "rpc: can't find method Plugin.Foo"}, &struct{}{},
		}},
		{"mm_execute_command_args", []any{&plugin.Z_ExecuteCommandArgs{
			A: &plugin.Context{SessionId: "s1", RequestId: "r1", IPAddress: "10.0.0.1", AcceptLanguage: "en", UserAgent: "ua"},
			B: &model.CommandArgs{UserId: "u1", ChannelId: "c1", TeamId: "t1", Command: "/datasync run orders", SiteURL: "http://localhost:8065",
				UserMentions: model.UserMentionMap{"alice": "uid-a"}, ChannelMentions: model.ChannelMentionMap{}},
		}}},
		{"mm_execute_command_returns", []any{
			&plugin.Z_ExecuteCommandReturns{A: &model.CommandResponse{ResponseType: "ephemeral", Text: "Started **orders**",
				Props: model.StringInterface{"from_plugin": "true"}}},
			&plugin.Z_ExecuteCommandReturns{A: &model.CommandResponse{}},
			&plugin.Z_ExecuteCommandReturns{B: appErr},
		}},
		{"mm_on_activate", []any{&plugin.Z_OnActivateArgs{APIMuxId: 1, DriverMuxId: 2}, &plugin.Z_OnActivateReturns{A: appErr}, &plugin.Z_OnActivateReturns{}}},
		{"mm_serve_http_args", []any{&plugin.Z_ServeHTTPArgs{ResponseWriterStream: 3, Request: &plugin.HTTPRequestSubset{
			Method: "GET", URL: hu, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: header, Host: "localhost",
			RemoteAddr: "127.0.0.1:5555", RequestURI: "/plugins/x/api/v1/hello?x=1"},
			Context: &plugin.Context{RequestId: "r1"}, RequestBodyStream: 4}}},
		{"mm_serve_http_legacy", []any{&LegacyServeHTTPArgs{ResponseWriterStream: 3, Request: legacyReq,
			Context: &plugin.Context{RequestId: "r1", UserAgent: "curl"}, RequestBodyStream: 4}}},
		{"mm_create_post", []any{&plugin.Z_CreatePostArgs{A: post}, &plugin.Z_CreatePostReturns{A: post}, &plugin.Z_CreatePostReturns{B: appErr}}},
		{"mm_create_post_slack", []any{&plugin.Z_CreatePostArgs{A: slackPost}}},
		{"mm_kv_set_with_options", []any{
			&plugin.Z_KVSetWithOptionsArgs{A: "mutex_mmi_bot_ensure", B: []byte{1}, C: model.PluginKVSetOptions{Atomic: true, ExpireInSeconds: 15}},
			&plugin.Z_KVSetWithOptionsArgs{A: "k", C: model.PluginKVSetOptions{OldValue: []byte{1}}},
			&plugin.Z_KVSetWithOptionsReturns{A: true},
		}},
		{"mm_register_command", []any{&plugin.Z_RegisterCommandArgs{A: &model.Command{Trigger: "datasync", AutoComplete: true,
			AutoCompleteDesc: "Data Sync", AutoCompleteHint: "[command]", DisplayName: "Data Sync", AutocompleteData: autocomplete}},
			&plugin.Z_RegisterCommandReturns{}}},
		{"mm_ensure_bot_user", []any{&plugin.Z_EnsureBotUserArgs{A: &model.Bot{Username: "datasync", DisplayName: "Data Sync", Description: "Posts sync results"}},
			&plugin.Z_EnsureBotUserReturns{A: "bot-user-id"}}},
		{"mm_implemented", []any{&struct{}{}, []string{"OnActivate", "OnDeactivate", "ExecuteCommand", "ServeHTTP"}}},
		{"split_repro", []any{issue13Repro()}},
		{"split_slice", []any{splitSlice(), splitSlice()}},
		{"split_map", []any{splitMap()}},
		{"split_array", []any{splitArray()}},
		// Every post has attachments: whichever post Go sends first splits the message
		// after the map's count (200), before 200 bytes of it.
		{"post_list", []any{postList(func(int) bool { return true }, func(int) bool { return false })}},
		// The issue's mix: whether the count exceeds the first message depends on map order.
		{"post_list_mixed", []any{postList(func(i int) bool { return i%5 == 0 }, func(i int) bool { return i%7 == 0 })}},
		{"post_fifty_any_props", []any{fiftyAnyProps()}},
		{"invalid_utf8", []any{&Utf8Case{S: "a\xffb", Keys: map[string]int{"k\xff": 1, "k\xfe": 2, "k": 3},
			List: []string{"\xc3", "ok"}}, "\xff\xfe", map[string]any{"x\x80": "y\x81"}}},
		{"deep_list", []any{linkedList(150), nestedAny(100)}},
		{"recursive_nonstruct", []any{RS{RS{}, RS{RS{}, RS{}}}, RM{"a": RM{"b": RM{}}, "c": RM{}},
			[]any{RS{RS{}}, RM{"m": RM{}}}}},
		{"complex_kinds", []any{Complexes{C64: complex(1.5, -2), C128: complex(1e300, 1)}, Complexes{C128: complex(0, -0.5)}}},
	}
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "gen" && os.Args[1] != "verify") {
		fmt.Fprintln(os.Stderr, "usage: golden gen DIR | golden verify DIR")
		os.Exit(2)
	}
	var err error
	if os.Args[1] == "gen" {
		err = gen(os.Args[2])
		// After the cases, not before: Go's type ids are process-wide, so encoding
		// anything first would renumber every committed vector.
		if err == nil {
			err = goRejects()
		}
	} else {
		err = verify(os.Args[2])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "golden:", err)
		os.Exit(1)
	}
}

// goRejects checks that Go's decoder refuses what the Rust serde bridge refuses
// (tests/go_parity.rs), rather than losing data: a float64 beyond float32's range,
// an array of another length, a complex128 beyond complex64's range.
func goRejects() error {
	checks := []struct {
		what       string
		from, into any
	}{
		{"float64 1e300 into float32", 1e300, new(float32)},
		{"[3]int into [2]int", [3]int{1, 0, -1}, new([2]int)},
		{"[3]int into [4]int", [3]int{1, 0, -1}, new([4]int)},
		{"complex128 1e300+1i into complex64", complex(1e300, 1), new(complex64)},
	}
	for _, c := range checks {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(c.from); err != nil {
			return fmt.Errorf("%s: encode: %w", c.what, err)
		}
		if err := gob.NewDecoder(&buf).Decode(c.into); err == nil {
			return fmt.Errorf("Go's decoder accepts %s; the Rust side refuses it", c.what)
		}
	}
	return nil
}

func encodeAll(values []any) ([]byte, error) {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	for i, v := range values {
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
	}
	return buf.Bytes(), nil
}

func gen(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var index []string
	for _, c := range cases() {
		data, err := encodeAll(c.values)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		views := make([]any, len(c.values))
		for i, v := range c.values {
			views[i] = view(reflect.ValueOf(v))
		}
		js, err := json.MarshalIndent(views, "", " ")
		if len(js) > 1<<16 {
			// Large views (post lists, deep lists) stay compact: indentation triples them.
			js, err = json.Marshal(views)
		}
		if err != nil {
			return fmt.Errorf("%s: json: %w", c.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.name+".bin"), data, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, c.name+".json"), append(js, '\n'), 0o644); err != nil {
			return err
		}
		index = append(index, fmt.Sprintf("%s %d", c.name, len(c.values)))
	}
	return os.WriteFile(filepath.Join(dir, "index.txt"), []byte(strings.Join(index, "\n")+"\n"), 0o644)
}

var (
	gobEncoderType  = reflect.TypeFor[gob.GobEncoder]()
	binMarshalType  = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalType = reflect.TypeFor[encoding.TextMarshaler]()
)

// marshaled returns the payload gob sends for a value with custom encoding.
func marshaled(v reflect.Value) ([]byte, bool) {
	t := v.Type()
	if !t.Implements(gobEncoderType) && !t.Implements(binMarshalType) && !t.Implements(textMarshalType) {
		if v.CanAddr() && (reflect.PointerTo(t).Implements(gobEncoderType) || reflect.PointerTo(t).Implements(binMarshalType) || reflect.PointerTo(t).Implements(textMarshalType)) {
			return marshaled(v.Addr())
		}
		if reflect.PointerTo(t).Implements(gobEncoderType) || reflect.PointerTo(t).Implements(binMarshalType) {
			p := reflect.New(t)
			p.Elem().Set(v)
			return marshaled(p)
		}
		return nil, false
	}
	var b []byte
	var err error
	switch x := v.Interface().(type) {
	case gob.GobEncoder:
		b, err = x.GobEncode()
	case encoding.BinaryMarshaler:
		b, err = x.MarshalBinary()
	case encoding.TextMarshaler:
		b, err = x.MarshalText()
	}
	if err != nil {
		panic(err)
	}
	return b, true
}

func bytesView(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// view mirrors the Rust crate's Value::to_json for what gob sends.
func view(v reflect.Value) any { return viewOf(v, false) }

// typedView is view with each non-nil interface shown as {"$type", "$value"}.
func typedView(v reflect.Value) any { return viewOf(v, true) }

func viewOf(v reflect.Value, typed bool) any {
	view := func(v reflect.Value) any { return viewOf(v, typed) }
	if !v.IsValid() {
		return nil
	}
	if b, ok := marshaled(v); ok && v.Kind() != reflect.Interface {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil
		}
		return bytesView(b)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if typed && v.Kind() == reflect.Interface {
			return map[string]any{"$type": fmt.Sprintf("%T", v.Elem().Interface()), "$value": view(v.Elem())}
		}
		return view(v.Elem())
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		return []any{real(c), imag(c)}
	case reflect.String:
		// Go strings hold any bytes; the Rust decoder keeps invalid UTF-8 as bytes.
		return bytesView([]byte(v.String()))
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return base64.StdEncoding.EncodeToString(v.Bytes())
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = view(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			key := fmt.Sprint(k.Interface())
			if k.Kind() == reflect.String {
				key = bytesView([]byte(k.String()))
			}
			out[key] = view(v.MapIndex(k))
		}
		return out
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() || f.Type.Kind() == reflect.Func || f.Type.Kind() == reflect.Chan {
				continue
			}
			out[f.Name] = view(v.Field(i))
		}
		return out
	}
	panic(fmt.Sprintf("view: unsupported kind %s", v.Kind()))
}

func newTarget(v any) reflect.Value {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		return reflect.New(t.Elem())
	}
	return reflect.New(t)
}

func decodeAll(data []byte, like []any) ([]any, error) {
	dec := gob.NewDecoder(bytes.NewReader(data))
	out := make([]any, len(like))
	for i, v := range like {
		p := newTarget(v)
		if err := dec.Decode(p.Interface()); err != nil {
			return nil, fmt.Errorf("value %d (%T): %w", i, v, err)
		}
		out[i] = p.Elem().Interface()
	}
	return out, nil
}

func verify(dir string) error {
	if err := goRejects(); err != nil {
		return err
	}
	byName := map[string]testCase{}
	for _, c := range cases() {
		byName[c.name] = c
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .bin files in %s", dir)
	}
	failed := 0
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".bin")
		c, ok := byName[strings.TrimPrefix(base, "typed_")]
		if !ok {
			fmt.Printf("FAIL %s: no such case\n", base)
			failed++
			continue
		}
		if err := verifyOne(f, c); err != nil {
			fmt.Printf("FAIL %s: %v\n", base, err)
			failed++
			continue
		}
		fmt.Printf("ok   %s\n", base)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files failed", failed, len(files))
	}
	fmt.Printf("verified %d files\n", len(files))
	return nil
}

func verifyOne(path string, c testCase) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	got, err := decodeAll(data, c.values)
	if err != nil {
		return fmt.Errorf("Go cannot decode: %w", err)
	}
	ref, err := encodeAll(c.values)
	if err != nil {
		return err
	}
	want, err := decodeAll(ref, c.values)
	if err != nil {
		return err
	}
	for i := range want {
		if reflect.DeepEqual(got[i], want[i]) {
			continue
		}
		// Rust cannot tell a nil map from an empty one and omits both; compare
		// with nil/empty folded together but interface concrete types kept.
		g, _ := json.Marshal(typedView(reflect.ValueOf(got[i])))
		w, _ := json.Marshal(typedView(reflect.ValueOf(want[i])))
		if !bytes.Equal(g, w) {
			return fmt.Errorf("value %d differs:\n got  %s\n want %s", i, g, w)
		}
	}
	return nil
}
