//! Rust structs with `#[derive(GobType)]` mirroring Mattermost's plugin RPC
//! types: decode Go's golden bytes into them, and encode Rust-built values
//! that Go's decoder must read as exactly the golden case's values.

mod common;

use std::collections::HashMap;

use gob::{Any, Bytes, Decoder, Empty, Encoder, GobType};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq, Clone)]
#[serde(rename_all = "PascalCase", default)]
struct Context {
    session_id: String,
    request_id: String,
    #[serde(rename = "IPAddress")]
    ip_address: String,
    accept_language: String,
    user_agent: String,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct CommandArgs {
    user_id: String,
    channel_id: String,
    team_id: String,
    root_id: String,
    parent_id: String,
    trigger_id: String,
    command: String,
    #[serde(rename = "SiteURL")]
    site_url: String,
    user_mentions: HashMap<String, String>,
    channel_mentions: HashMap<String, String>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
#[gob(name = "Z_ExecuteCommandArgs")]
struct ExecuteCommandArgs {
    a: Option<Context>,
    b: Option<CommandArgs>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq, Clone)]
#[serde(rename_all = "PascalCase", default)]
struct AppError {
    id: String,
    message: String,
    detailed_error: String,
    request_id: String,
    status_code: i64,
    #[serde(rename = "Where")]
    location: String,
    skip_translation: bool,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct CommandResponse {
    response_type: String,
    text: String,
    props: HashMap<String, Any>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct ExecuteCommandReturns {
    a: Option<CommandResponse>,
    b: Option<AppError>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct OnActivateArgs {
    #[serde(rename = "APIMuxId")]
    api_mux_id: u32,
    driver_mux_id: u32,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct ErrorReturns {
    a: Any,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct PostMetadata {
    recipients: Vec<String>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct Post {
    id: String,
    create_at: i64,
    update_at: i64,
    edit_at: i64,
    delete_at: i64,
    is_pinned: bool,
    user_id: String,
    channel_id: String,
    root_id: String,
    original_id: String,
    message: String,
    message_source: String,
    #[serde(rename = "Type")]
    kind: String,
    props: HashMap<String, Any>,
    hashtags: String,
    filenames: Vec<String>,
    file_ids: Vec<String>,
    pending_post_id: String,
    has_reactions: bool,
    remote_id: Option<String>,
    reply_count: i64,
    last_reply_at: i64,
    is_following: Option<bool>,
    metadata: Option<Box<PostMetadata>>,
    #[serde(skip)]
    local_only: u8,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct CreatePostArgs {
    a: Option<Post>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct CreatePostReturns {
    a: Option<Post>,
    b: Option<AppError>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct KvSetOptions {
    atomic: bool,
    old_value: Bytes,
    expire_in_seconds: i64,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct KvSetWithOptionsArgs {
    a: String,
    b: Bytes,
    c: KvSetOptions,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct KvSetReturns {
    a: bool,
    b: Option<AppError>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct AutocompleteArg {
    name: String,
    help_text: String,
    #[serde(rename = "Type")]
    kind: String,
    required: bool,
    data: Any,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct AutocompleteData {
    trigger: String,
    hint: String,
    help_text: String,
    #[serde(rename = "RoleID")]
    role_id: String,
    arguments: Vec<AutocompleteArg>,
    sub_commands: Vec<AutocompleteData>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct TextArg {
    hint: String,
    pattern: String,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct ListItem {
    item: String,
    hint: String,
    help_text: String,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct StaticListArg {
    possible_arguments: Vec<ListItem>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct DynamicListArg {
    #[serde(rename = "FetchURL")]
    fetch_url: String,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct Command {
    trigger: String,
    auto_complete: bool,
    auto_complete_desc: String,
    auto_complete_hint: String,
    display_name: String,
    autocomplete_data: Option<Box<AutocompleteData>>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct RegisterCommandArgs {
    a: Option<Command>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct Bot {
    user_id: String,
    username: String,
    display_name: String,
    description: String,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct EnsureBotArgs {
    a: Option<Bot>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct EnsureBotReturns {
    a: String,
    b: Any,
}

/// `*url.URL`: a BinaryMarshaler whose bytes are the URL string.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct GoUrl(String);

impl GobType for GoUrl {
    fn gob_type() -> gob::Type {
        gob::Type::Marshaler(gob::MarshalerKind::Binary)
    }
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct HttpRequestSubset {
    method: String,
    #[serde(rename = "URL")]
    url: Option<GoUrl>,
    proto: String,
    proto_major: i64,
    proto_minor: i64,
    header: HashMap<String, Vec<String>>,
    host: String,
    remote_addr: String,
    #[serde(rename = "RequestURI")]
    request_uri: String,
    body: Any,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct ServeHttpArgs {
    response_writer_stream: u32,
    request: Option<HttpRequestSubset>,
    context: Option<Context>,
    request_body_stream: u32,
}

fn serve_http_args() -> ServeHttpArgs {
    ServeHttpArgs {
        response_writer_stream: 3,
        request: Some(HttpRequestSubset {
            method: "GET".into(),
            url: Some(GoUrl("/api/v1/hello?x=1".into())),
            proto: "HTTP/1.1".into(),
            proto_major: 1,
            proto_minor: 1,
            header: HashMap::from([
                ("Mattermost-User-Id".to_string(), vec!["abc".to_string()]),
                (
                    "Accept".to_string(),
                    vec!["text/html".to_string(), "application/json".to_string()],
                ),
            ]),
            host: "localhost".into(),
            remote_addr: "127.0.0.1:5555".into(),
            request_uri: "/plugins/x/api/v1/hello?x=1".into(),
            body: Any::nil(),
        }),
        context: Some(Context {
            request_id: "r1".into(),
            ..Default::default()
        }),
        request_body_stream: 4,
    }
}

fn app_error() -> AppError {
    AppError {
        id: "app.sync.failed".into(),
        message: "sync failed".into(),
        detailed_error: "db down".into(),
        request_id: "r1".into(),
        status_code: 500,
        location: "Sync.Run".into(),
        skip_translation: false,
    }
}

fn post() -> Post {
    let props = json!({
        "from_bot": "true", "rows": 42, "ratio": 0.5, "ok": true,
        "attachments": [{"color": "#00ff00", "title": "orders", "text": "42 rows",
            "fields": [{"title": "Rows", "value": "42", "short": true}]}]
    });
    Post {
        id: "p1".into(),
        create_at: 1_700_000_000_000,
        user_id: "bot-user-id".into(),
        channel_id: "channel-id".into(),
        message: "Sync **orders** finished: 42 rows".into(),
        kind: "custom_datasync".into(),
        file_ids: vec!["f1".into(), "f2".into()],
        remote_id: Some("remote-1".into()),
        is_following: Some(true),
        props: props
            .as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| (k.clone(), Any::from_json(v)))
            .collect(),
        metadata: Some(Box::new(PostMetadata {
            recipients: vec!["u1".into()],
        })),
        local_only: 9,
        ..Default::default()
    }
}

fn autocomplete() -> AutocompleteData {
    let sub = |trigger: &str, hint: &str, help: &str, arguments| AutocompleteData {
        trigger: trigger.into(),
        hint: hint.into(),
        help_text: help.into(),
        arguments,
        ..Default::default()
    };
    let arg = |name: &str, help: &str, kind: &str, required, data| AutocompleteArg {
        name: name.into(),
        help_text: help.into(),
        kind: kind.into(),
        required,
        data,
    };
    let item = |item: &str, hint: &str, help: &str| ListItem {
        item: item.into(),
        hint: hint.into(),
        help_text: help.into(),
    };
    let text = Any::new(
        "*model.AutocompleteTextArg",
        &TextArg {
            hint: "[name]".into(),
            pattern: String::new(),
        },
    )
    .expect("any");
    let list = Any::new(
        "*model.AutocompleteStaticListArg",
        &StaticListArg {
            possible_arguments: vec![
                item("full", "", "Full refresh"),
                item("incremental", "inc", "Only changes"),
            ],
        },
    )
    .expect("any");
    let dynamic = Any::new(
        "*model.AutocompleteDynamicListArg",
        &DynamicListArg {
            fetch_url: "/plugins/datasync/autocomplete/syncs".into(),
        },
    )
    .expect("any");
    AutocompleteData {
        trigger: "datasync".into(),
        hint: "[command]".into(),
        help_text: "Data Sync commands".into(),
        role_id: "system_user".into(),
        arguments: vec![],
        sub_commands: vec![
            AutocompleteData {
                role_id: "system_user".into(),
                ..sub(
                    "run",
                    "[sync]",
                    "Run a sync now",
                    vec![
                        arg("", "Sync name", "TextInput", true, text),
                        arg("mode", "Run mode", "StaticList", false, list),
                    ],
                )
            },
            AutocompleteData {
                role_id: "system_user".into(),
                ..sub("list", "", "List syncs", vec![])
            },
            AutocompleteData {
                role_id: "system_user".into(),
                ..sub(
                    "status",
                    "",
                    "Show status",
                    vec![arg("", "Sync", "DynamicList", true, dynamic)],
                )
            },
        ],
    }
}

fn decode_case<T: serde::de::DeserializeOwned>(name: &str, index: usize) -> T {
    let data = common::bin(name);
    let mut dec = Decoder::new();
    let mut r = data.as_slice();
    for _ in 0..index {
        dec.decode_value(&mut r).expect("skip");
    }
    dec.decode(&mut r)
        .unwrap_or_else(|e| panic!("{name}[{index}]: {e}"))
}

#[test]
fn decode_golden_into_rust_types() {
    let args: ExecuteCommandArgs = decode_case("mm_execute_command_args", 0);
    let ctx = args.a.expect("context");
    assert_eq!(
        (ctx.session_id.as_str(), ctx.ip_address.as_str()),
        ("s1", "10.0.0.1")
    );
    let cmd = args.b.expect("args");
    assert_eq!(cmd.command, "/datasync run orders");
    assert_eq!(cmd.site_url, "http://localhost:8065");
    assert_eq!(
        cmd.user_mentions.get("alice").map(String::as_str),
        Some("uid-a")
    );

    let ret: ErrorReturns = decode_case("mm_on_activate", 1);
    assert_eq!(ret.a.name(), Some("*model.AppError"));
    assert_eq!(ret.a.decode::<AppError>().expect("app error"), app_error());
    let ok: ErrorReturns = decode_case("mm_on_activate", 2);
    assert!(ok.a.is_nil());
    let args: OnActivateArgs = decode_case("mm_on_activate", 0);
    assert_eq!(
        args,
        OnActivateArgs {
            api_mux_id: 1,
            driver_mux_id: 2
        }
    );

    let created: CreatePostArgs = decode_case("mm_create_post", 0);
    let mut want = post();
    want.local_only = 0;
    let mut got = created.a.expect("post");
    // Go map order is random: compare props as JSON, the rest exactly.
    let props_json = |p: &HashMap<String, Any>| {
        p.iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect::<HashMap<_, _>>()
    };
    assert_eq!(props_json(&got.props), props_json(&want.props));
    assert_eq!(got.props["rows"].name(), Some("int64"));
    assert_eq!(got.props["attachments"].name(), Some("[]interface {}"));
    got.props.clear();
    want.props.clear();
    assert_eq!(got, want);

    let reg: RegisterCommandArgs = decode_case("mm_register_command", 0);
    let data = reg.a.expect("command").autocomplete_data.expect("data");
    // Decoded interface types are the sender's (not our derived ones): compare as JSON + names.
    let as_json = |d: &AutocompleteData| serde_json::to_value(d).expect("json");
    common::check("autocomplete", &as_json(&data), &as_json(&autocomplete()))
        .expect("autocomplete data");
    assert_eq!(
        data.sub_commands[0].arguments[1].data.name(),
        Some("*model.AutocompleteStaticListArg")
    );
    let dynamic: DynamicListArg = data.sub_commands[2].arguments[0]
        .data
        .decode()
        .expect("dyn");
    assert_eq!(dynamic.fetch_url, "/plugins/datasync/autocomplete/syncs");

    let kv: KvSetWithOptionsArgs = decode_case("mm_kv_set_with_options", 0);
    assert_eq!(
        (kv.b.0.as_slice(), kv.c.atomic, kv.c.expire_in_seconds),
        (&[1u8][..], true, 15)
    );
    let http: ServeHttpArgs = decode_case("mm_serve_http_args", 0);
    assert_eq!(http, serve_http_args());
    // Older servers send a whole *http.Request: same names for what we read.
    let legacy: ServeHttpArgs = decode_case("mm_serve_http_legacy", 0);
    let req = legacy.request.expect("request");
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.url,
        Some(GoUrl(
            "http://localhost:8065/plugins/x/api/v1/hello?x=1".into()
        ))
    );
    assert_eq!(req.request_uri, "/plugins/x/api/v1/hello?x=1");
    assert_eq!(req.header["Accept"], ["text/html", "application/json"]);
    assert_eq!(legacy.context.expect("context").user_agent, "curl");

    let implemented: Vec<String> = decode_case("mm_implemented", 1);
    assert_eq!(
        implemented,
        ["OnActivate", "OnDeactivate", "ExecuteCommand", "ServeHTTP"]
    );
    let bot: EnsureBotReturns = decode_case("error_string", 0);
    assert_eq!(bot.b.name(), Some("*plugin.ErrorString"));
    assert_eq!(bot.b.to_json(), json!({"Err": "username taken"}));
}

/// Encode a sequence of values on one stream, as the Go case does.
fn stream(values: &[&dyn gob::Encodable]) -> Vec<u8> {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    for v in values {
        v.encode_into(&mut enc, &mut out).expect("encode");
    }
    out
}

#[test]
fn rust_encoded_mattermost_values_decode_in_go() {
    let dir = common::temp_dir("typed");
    let ctx = Context {
        session_id: "s1".into(),
        request_id: "r1".into(),
        ip_address: "10.0.0.1".into(),
        accept_language: "en".into(),
        user_agent: "ua".into(),
    };
    let cmd = CommandArgs {
        user_id: "u1".into(),
        channel_id: "c1".into(),
        team_id: "t1".into(),
        command: "/datasync run orders".into(),
        site_url: "http://localhost:8065".into(),
        user_mentions: HashMap::from([("alice".to_string(), "uid-a".to_string())]),
        ..Default::default()
    };
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "mm_execute_command_args",
            stream(&[&ExecuteCommandArgs {
                a: Some(ctx),
                b: Some(cmd),
            }]),
        ),
        (
            "mm_execute_command_returns",
            stream(&[
                &ExecuteCommandReturns {
                    a: Some(CommandResponse {
                        response_type: "ephemeral".into(),
                        text: "Started **orders**".into(),
                        props: HashMap::from([(
                            "from_plugin".to_string(),
                            Any::from_json(&json!("true")),
                        )]),
                    }),
                    b: None,
                },
                &ExecuteCommandReturns {
                    a: Some(CommandResponse::default()),
                    b: None,
                },
                &ExecuteCommandReturns {
                    a: None,
                    b: Some(app_error()),
                },
            ]),
        ),
        (
            "mm_on_activate",
            stream(&[
                &OnActivateArgs {
                    api_mux_id: 1,
                    driver_mux_id: 2,
                },
                &ErrorReturns {
                    a: Any::new("*model.AppError", &app_error()).expect("any"),
                },
                &ErrorReturns { a: Any::nil() },
            ]),
        ),
        ("mm_serve_http_args", stream(&[&serve_http_args()])),
        (
            "mm_create_post",
            stream(&[
                &CreatePostArgs { a: Some(post()) },
                &CreatePostReturns {
                    a: Some(post()),
                    b: None,
                },
                &CreatePostReturns {
                    a: None,
                    b: Some(app_error()),
                },
            ]),
        ),
        (
            "mm_kv_set_with_options",
            stream(&[
                &KvSetWithOptionsArgs {
                    a: "mutex_mmi_bot_ensure".into(),
                    b: Bytes(vec![1]),
                    c: KvSetOptions {
                        atomic: true,
                        old_value: Bytes(vec![]),
                        expire_in_seconds: 15,
                    },
                },
                &KvSetWithOptionsArgs {
                    a: "k".into(),
                    b: Bytes(vec![]),
                    c: KvSetOptions {
                        old_value: Bytes(vec![1]),
                        ..Default::default()
                    },
                },
                &KvSetReturns { a: true, b: None },
            ]),
        ),
        (
            "mm_register_command",
            stream(&[
                &RegisterCommandArgs {
                    a: Some(Command {
                        trigger: "datasync".into(),
                        auto_complete: true,
                        auto_complete_desc: "Data Sync".into(),
                        auto_complete_hint: "[command]".into(),
                        display_name: "Data Sync".into(),
                        autocomplete_data: Some(Box::new(autocomplete())),
                    }),
                },
                &ErrorReturns { a: Any::nil() },
            ]),
        ),
        (
            "mm_ensure_bot_user",
            stream(&[
                &EnsureBotArgs {
                    a: Some(Bot {
                        username: "datasync".into(),
                        display_name: "Data Sync".into(),
                        description: "Posts sync results".into(),
                        ..Default::default()
                    }),
                },
                &EnsureBotReturns {
                    a: "bot-user-id".into(),
                    b: Any::nil(),
                },
            ]),
        ),
        (
            "mm_implemented",
            stream(&[
                &Empty,
                &vec!["OnActivate", "OnDeactivate", "ExecuteCommand", "ServeHTTP"],
            ]),
        ),
    ];
    let mut files = files;
    files.extend(basic_streams());
    for (name, bytes) in &files {
        std::fs::write(dir.join(format!("typed_{name}.bin")), bytes).expect("write");
    }
    if let Some((ok, text)) = common::go_verify(&dir) {
        println!("{text}");
        assert!(ok, "Go rejected Rust-encoded values:\n{text}");
        assert!(
            text.contains(&format!("verified {} files", files.len())),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn derive_uses_serde_names_and_go_type_name() {
    let gob::Type::Struct(st) = Post::gob_type() else {
        panic!("struct")
    };
    assert_eq!(st.name(), "Post");
    let names: Vec<&str> = st.fields().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"Id"));
    assert!(names.contains(&"Type") && names.contains(&"FileIds") && !names.contains(&"LocalOnly"));
    let gob::Type::Struct(st) = ExecuteCommandArgs::gob_type() else {
        panic!("struct")
    };
    assert_eq!(st.name(), "Z_ExecuteCommandArgs");
    // Recursive type: the SubCommands element is the same struct type.
    let gob::Type::Struct(ad) = AutocompleteData::gob_type() else {
        panic!("struct")
    };
    let sub = ad
        .fields()
        .iter()
        .find(|(n, _)| n == "SubCommands")
        .expect("field");
    assert_eq!(
        sub.1,
        gob::Type::Slice(Box::new(gob::Type::Struct(ad.clone())))
    );
}

/// Plain Go values built from Rust types (Vec<u8> must travel as []byte).
fn basic_streams() -> Vec<(&'static str, Vec<u8>)> {
    let any = |name: &str, v: &dyn Fn() -> Result<Any, gob::Error>| {
        let a = v().expect("any");
        assert_eq!(a.name(), Some(name));
        a
    };
    let iface: HashMap<String, Any> = HashMap::from([
        ("string".to_string(), Any::from_json(&json!("v"))),
        ("bool".to_string(), Any::from_json(&json!(true))),
        ("int".to_string(), any("int", &|| Any::new("int", &5i64))),
        ("int8".to_string(), any("int8", &|| Any::new("int8", &-8i8))),
        (
            "int16".to_string(),
            any("int16", &|| Any::new("int16", &16i16)),
        ),
        (
            "int32".to_string(),
            any("int32", &|| Any::new("int32", &-32i32)),
        ),
        ("int64".to_string(), Any::from_json(&json!(5))),
        ("uint".to_string(), any("uint", &|| Any::new("uint", &1u64))),
        (
            "uint8".to_string(),
            any("uint8", &|| Any::new("uint8", &8u8)),
        ),
        (
            "uint16".to_string(),
            any("uint16", &|| Any::new("uint16", &16u16)),
        ),
        (
            "uint32".to_string(),
            any("uint32", &|| Any::new("uint32", &32u32)),
        ),
        ("uint64".to_string(), Any::from_json(&json!(u64::MAX))),
        (
            "float32".to_string(),
            any("float32", &|| Any::new("float32", &1.5f32)),
        ),
        ("float64".to_string(), Any::from_json(&json!(1.5))),
        (
            "bytes".to_string(),
            any("[]uint8", &|| Any::new("[]uint8", &b"hi".to_vec())),
        ),
        (
            "strings".to_string(),
            any("[]string", &|| Any::new("[]string", &vec!["a", "b"])),
        ),
        ("nil".to_string(), Any::nil()),
        ("zero_string".to_string(), Any::from_json(&json!(""))),
        (
            "zero_int".to_string(),
            any("int", &|| Any::new("int", &0i32)),
        ),
    ]);
    let nested =
        Any::from_json(&json!(["a", 1, [true, ["deep"]], {"m": {"x": 1.5}, "l": []}, null]));
    vec![
        (
            "bytes",
            stream(&[&Vec::<u8>::new(), &vec![0u8, 1, 2, 255], &b"text".to_vec()]),
        ),
        ("strings", stream(&[&"", &"hello", &"héllo ✓ 日本語 🎉"])),
        (
            "ints",
            stream(&[
                &0i64,
                &1i32,
                &-1i64,
                &3i64,
                &300i16,
                &-129i64,
                &i64::MAX,
                &i64::MIN,
                &-128i8,
            ]),
        ),
        (
            "uints",
            stream(&[&0u64, &7u8, &256u16, &70000u32, &u64::MAX]),
        ),
        (
            "floats",
            stream(&[
                &0.0f64,
                &1.5f64,
                &17.0f64,
                &-2.25f64,
                &1e300f64,
                &3.25f32,
                &f64::from_bits(1),
            ]),
        ),
        (
            "slices",
            stream(&[
                &vec!["a", "", "c"],
                &vec![-1i64, 0, 1],
                &vec![vec!["x".to_string()], vec![]],
                &Vec::<bool>::new(),
            ]),
        ),
        (
            "arrays",
            stream(&[&[1i64, 0, -1], &[String::new(), String::new()]]),
        ),
        (
            "maps",
            stream(&[
                &HashMap::from([("a".to_string(), 1i64), ("z".to_string(), 0)]),
                &HashMap::from([(-5i64, "neg".to_string()), (7, String::new())]),
                &HashMap::from([("k".to_string(), vec!["v1".to_string(), "v2".to_string()])]),
            ]),
        ),
        ("iface_basic", stream(&[&iface])),
        (
            "iface_nested",
            stream(&[&nested.decode::<Vec<Any>>().expect("vec of any")]),
        ),
    ]
}

/// The Go field names the derive computes must be exactly serde's names.
#[test]
fn derive_field_names_match_serde() {
    #[derive(Serialize, GobType, Default)]
    #[serde(rename_all = "camelCase")]
    struct Camel {
        user_id: String,
        #[serde(rename = "URL")]
        url: String,
        r#type: u8,
        #[serde(skip_serializing)]
        hidden: bool,
    }
    #[derive(Serialize, GobType, Default)]
    #[serde(rename_all = "SCREAMING-KEBAB-CASE")]
    struct Kebab {
        user_id: String,
        x: i32,
    }
    #[derive(Serialize, GobType, Default)]
    #[serde(rename_all(serialize = "PascalCase"))]
    struct Pascal {
        site_url: String,
        #[serde(rename(serialize = "IconURL", deserialize = "icon"))]
        icon_url: String,
        #[serde(skip)]
        local: u8,
    }
    #[derive(Serialize, GobType, Default)]
    struct Plain {
        snake_case: bool,
    }
    fn check<T: Serialize + GobType + Default>() {
        let json = serde_json::to_value(T::default()).expect("json");
        // Sorted: serde_json keeps insertion order when the workspace enables its
        // `preserve_order` feature, and sorts keys otherwise.
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let gob::Type::Struct(st) = T::gob_type() else {
            panic!("struct")
        };
        let mut names: Vec<&str> = st.fields().iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, keys, "{}", st.name());
    }
    check::<Camel>();
    check::<Kebab>();
    check::<Pascal>();
    check::<Plain>();
    let _ = (Camel::default().hidden, Pascal::default().local);
}

#[test]
fn enums_and_newtypes() {
    #[derive(Serialize, Deserialize, GobType, Debug, PartialEq, Default)]
    #[serde(rename_all = "snake_case")]
    enum ResponseType {
        #[default]
        Ephemeral,
        InChannel,
    }
    #[derive(Serialize, Deserialize, GobType, Debug, PartialEq, Default)]
    struct UserId(String);
    #[derive(Serialize, Deserialize, GobType, Debug, PartialEq, Default)]
    #[serde(transparent)]
    struct Count {
        n: u32,
    }
    #[derive(Serialize, Deserialize, GobType, Debug, PartialEq, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Reply {
        response_type: ResponseType,
        user: UserId,
        count: Count,
    }
    assert_eq!(ResponseType::gob_type(), gob::Type::String);
    assert_eq!(UserId::gob_type(), gob::Type::String);
    assert_eq!(Count::gob_type(), gob::Type::Uint);
    let reply = Reply {
        response_type: ResponseType::InChannel,
        user: UserId("u".into()),
        count: Count { n: 2 },
    };
    let mut out = Vec::new();
    Encoder::new().encode(&reply, &mut out).expect("encode");
    let v = Decoder::new()
        .decode_value(&mut out.as_slice())
        .expect("decode");
    assert_eq!(
        v.field("ResponseType"),
        Some(&gob::Value::String("in_channel".into()))
    );
    let back: Reply = gob::from_value(v).expect("typed");
    assert_eq!(back, reply);
}
