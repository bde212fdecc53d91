//! Checks every shape we decode or send against the real Go types (server/public v0.3.0):
//! `tests/golden` (a Go program) encodes what the server sends, and decodes what we send
//! into the exact Go types the server uses (pitfall 1: a mismatch kills the stream).

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::OnceLock;

use gob::{Any, Bytes, Empty};
use serde_json::Value;

use crate::api::*;
use crate::error::{ApiError, check_app_error, check_error_any};
use crate::model::*;
use crate::server::*;

/// Builds the Go program once and generates the server-side vectors into a fresh directory.
fn golden() -> &'static (PathBuf, PathBuf) {
    static DIR: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mm-golden-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("gen")).expect("create golden dir");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        // One shared binary (23 MB) instead of one per test run; vectors stay per process.
        let bin_dir = std::env::temp_dir().join("mm-golden-bin");
        std::fs::create_dir_all(&bin_dir).expect("create golden bin dir");
        let bin = bin_dir.join("golden");
        let status = Process::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&src)
            .status()
            .expect("run go build (Go is needed for the golden tests)");
        assert!(status.success(), "go build of tests/golden failed");
        let status = Process::new(&bin)
            .arg("gen")
            .arg(dir.join("gen"))
            .status()
            .expect("run golden gen");
        assert!(status.success(), "golden gen failed");
        (dir, bin)
    })
}

/// Decodes a Go-written vector the way the RPC layer does: dynamic value, then serde.
fn read_go<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let (dir, _) = golden();
    let data = std::fs::read(dir.join("gen").join(format!("{name}.gob"))).expect(name);
    let value = gob::Decoder::new()
        .decode_value(&mut data.as_slice())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    gob::from_value(value).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Writes Rust-encoded values, has Go decode them into the real types, returns Go's JSON view.
fn verify_in_go(values: &[(&str, &dyn gob::Encodable)]) -> Value {
    let (dir, bin) = golden();
    let out_dir = dir.join(format!("rs-{}", values[0].0));
    std::fs::create_dir_all(&out_dir).expect("create verify dir");
    for (name, value) in values {
        let mut enc = gob::Encoder::new();
        let mut out = Vec::new();
        value
            .encode_into(&mut enc, &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::write(out_dir.join(format!("{name}.rs.gob")), out).expect("write vector");
    }
    let output = Process::new(bin)
        .arg("verify")
        .arg(&out_dir)
        .output()
        .expect("run golden verify");
    assert!(
        output.status.success(),
        "Go could not decode our bytes: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("verify output is JSON")
}

#[test]
fn hook_args_from_go_decode() {
    let a: Z_OnActivateArgs = read_go("hook_on_activate_args");
    assert_eq!((a.api_mux_id, a.driver_mux_id), (1, 2));

    let c: Z_ExecuteCommandArgs = read_go("hook_execute_command_args");
    let ctx = c.a.unwrap_or_default();
    let args = c.b.unwrap_or_default();
    assert_eq!(
        (ctx.request_id.as_str(), ctx.ip_address.as_str()),
        ("r1", "10.0.0.1")
    );
    assert_eq!(args.command, "/hello world");
    assert_eq!(args.site_url, "http://localhost:8065");
    assert_eq!(
        args.user_mentions.get("bob").map(String::as_str),
        Some("user2")
    );

    let m: Z_MessageHasBeenPostedArgs = read_go("hook_message_posted_args");
    let post = m.b.unwrap_or_default();
    assert_eq!(post.message, "hello?");
    assert_eq!(post.thread_root(), "root1");
    assert_eq!(post.file_ids, vec!["f1"]);
    assert_eq!(post.prop_str("from_bot").as_deref(), Some("true"));
    assert_eq!(
        post.props.get("n").map(Any::to_json),
        Some(serde_json::json!(7))
    );
    assert_eq!(
        post.props.get("attachments").map(Any::to_json),
        Some(serde_json::json!([{"text": "att", "fields": ["x"]}]))
    );
}

#[test]
fn serve_http_args_decode_in_both_shapes() {
    for (name, method, rw, body) in [
        ("hook_serve_http_args", "POST", 3, 4),
        ("hook_serve_http_args_old", "GET", 5, 6),
    ] {
        let s: Z_ServeHTTPArgs = read_go(name);
        assert_eq!(
            (s.response_writer_stream, s.request_body_stream),
            (rw, body),
            "{name}"
        );
        let r = s.request.unwrap_or_default();
        assert_eq!(r.method, method, "{name}");
        assert_eq!(r.url, "/status?x=1", "{name}");
        assert_eq!(r.request_uri, "/plugins/rs-hello/status?x=1", "{name}");
        assert_eq!(r.remote_addr, "127.0.0.1:5555", "{name}");
        assert_eq!(
            r.header.get("Mattermost-User-Id"),
            Some(&vec!["user1".to_owned()])
        );
        assert!(s.context.is_some(), "{name}");
    }
}

#[test]
fn api_returns_from_go_decode() {
    let r: Z_PostReturns = read_go("api_create_post_returns");
    assert_eq!(r.a.map(|p| p.id), Some("post1".to_owned()));

    let r: Z_PostReturns = read_go("api_create_post_error");
    let err = check_app_error("CreatePost", r.b).unwrap_err();
    let app = err.app_error().expect("an AppError");
    assert_eq!((app.id.as_str(), app.status_code), ("app.test.id", 404));
    assert_eq!(app.detailed_error, "detail text");

    let r: Z_StringErrReturns = read_go("api_get_bundle_path_error");
    let err = check_error_any("GetBundlePath", &r.b).unwrap_err();
    assert_eq!(err.app_error().map(|a| a.status_code), Some(404));

    let r: Z_StringErrReturns = read_go("api_get_bundle_path_errstr");
    match check_error_any("GetBundlePath", &r.b).unwrap_err() {
        ApiError::Remote {
            type_name, message, ..
        } => {
            assert_eq!(type_name, "*plugin.ErrorString");
            assert_eq!(message, "plain failure");
        }
        other => panic!("unexpected {other:?}"),
    }

    let r: Z_StringErrReturns = read_go("api_get_bundle_path_returns");
    assert!(check_error_any("GetBundlePath", &r.b).is_ok());
    assert_eq!(r.a, "/plugins/rs-hello");

    let r: Z_UserReturns = read_go("api_get_user_returns");
    let user = r.a.unwrap_or_default();
    assert_eq!((user.username.as_str(), user.is_bot), ("alice", false));
    assert_eq!(
        user.notify_props.get("email").map(String::as_str),
        Some("true")
    );

    let r: Z_BotReturns = read_go("api_get_bot_returns");
    let bot = r.a.unwrap_or_default();
    assert_eq!(
        (bot.user_id.as_str(), bot.owner_id.as_str()),
        ("bot1", "rs-hello")
    );

    let r: Z_BytesReturns = read_go("api_kv_get_returns");
    assert_eq!(r.a.0, b"42");
    let r: Z_StringsAppErrReturns = read_go("api_kv_list_returns");
    assert_eq!(r.a, vec!["a", "b"]);
    let r: Z_BoolAppErrReturns = read_go("api_kv_set_options_returns");
    assert!(r.a);
    let r: Z_BoolReturns = read_go("api_has_permission_returns");
    assert!(r.a);
    let r: Z_MapReturns = read_go("api_get_plugin_config_returns");
    assert_eq!(
        r.a.get("Greeting").map(Any::to_json),
        Some(serde_json::json!("Hi"))
    );
    let r: Z_BytesReturns = read_go("api_load_config_returns");
    assert_eq!(r.a.0, br#"{"greeting":"Hi"}"#);
    let r: Z_ChannelReturns = read_go("api_get_channel_returns");
    assert_eq!(r.a.map(|c| c.channel_type), Some("O".to_owned()));
    let r: Z_FileInfoReturns = read_go("api_upload_file_returns");
    let info = r.a.unwrap_or_default();
    assert_eq!((info.creator_id.as_str(), info.size), ("bot1", 3));
    // GetConfig is decoded generically (as Api::get_config does), incl. []byte fields.
    let (dir, _) = golden();
    let data = std::fs::read(dir.join("gen/api_get_config_returns.gob")).expect("config vector");
    let value = gob::Decoder::new()
        .decode_value(&mut data.as_slice())
        .expect("decode config");
    let config = value
        .field("A")
        .map(gob::Value::to_json)
        .unwrap_or_default();
    assert_eq!(
        config["ServiceSettings"]["SiteURL"],
        "http://localhost:8065"
    );
    assert!(config["LogSettings"]["AdvancedLoggingJSON"].is_string());
}

#[test]
fn hook_replies_decode_into_go_types() {
    let implemented: Vec<String> = vec!["OnActivate".into(), "ServeHTTP".into()];
    let ok = Z_ErrorReturns { a: Any::nil() };
    let err = Z_ErrorReturns {
        a: AppError::new("x.id", "it failed", 503).to_any(),
    };
    let cmd_ok = Z_ExecuteCommandReturns {
        a: Some(CommandResponse::ephemeral("Posted: Hello, world!")),
        b: None,
    };
    let cmd_err = Z_ExecuteCommandReturns {
        a: Some(CommandResponse::default()),
        b: Some(AppError::new("rs-probe.fail", "probe failure", 400)),
    };
    let go = verify_in_go(&[
        ("reply_implemented", &implemented),
        ("reply_empty", &Empty),
        ("reply_on_activate_ok", &ok),
        ("reply_on_activate_err", &err),
        ("reply_execute_command_ok", &cmd_ok),
        ("reply_execute_command_err", &cmd_err),
    ]);
    assert_eq!(
        go["reply_implemented"],
        serde_json::json!(["OnActivate", "ServeHTTP"])
    );
    assert_eq!(go["reply_on_activate_ok"]["A_type"], "<nil>");
    assert_eq!(go["reply_on_activate_err"]["A_type"], "*model.AppError");
    assert_eq!(go["reply_on_activate_err"]["A"]["status_code"], 503);
    assert_eq!(
        go["reply_execute_command_ok"]["A"]["text"],
        "Posted: Hello, world!"
    );
    assert_eq!(
        go["reply_execute_command_ok"]["A"]["response_type"],
        "ephemeral"
    );
    assert!(go["reply_execute_command_ok"]["B"].is_null());
    assert_eq!(go["reply_execute_command_err"]["B"]["id"], "rs-probe.fail");
    assert!(go["reply_execute_command_err"]["A"].is_object());
}

#[test]
fn api_args_decode_into_go_types() {
    let mut post = Post::new("chan1", "Hello, world!");
    post.user_id = "bot1".into();
    post.root_id = "root1".into();
    post.set_prop_str("from_bot", "true");
    post.set_attachments(&[serde_json::json!({"text": "att", "color": "#ff0000",
        "fields": [{"title": "t", "value": "v", "short": true}]})]);
    let create = Z_PostArgs { a: Some(post) };

    let mut data = AutocompleteData::new("hello", "[text]", "greet");
    data.add_text_argument("Whom", "world", "");
    let command = Z_CommandArgs {
        a: Some(Command {
            trigger: "hello".into(),
            auto_complete: true,
            autocomplete_data: Some(data),
            ..Command::default()
        }),
    };
    let bot = Z_BotArgs {
        a: Some(Bot::new("hello-bot", "Hello Bot", "Says hello.")),
    };
    let patch = Z_PatchBotArgs {
        a: "bot1".into(),
        b: Some(BotPatch {
            display_name: Some("New".into()),
            ..BotPatch::default()
        }),
    };
    let kv = Z_KVSetWithOptionsArgs {
        a: "mutex".into(),
        b: Bytes(vec![1]),
        c: PluginKVSetOptions {
            atomic: true,
            old_value: Bytes(vec![]),
            expire_in_seconds: 15,
        },
    };
    let log = Z_LogArgs {
        a: "rs-hello activated".into(),
        b: vec![
            Any::from_json(&serde_json::json!("activations")),
            Any::from_json(&serde_json::json!("3")),
        ],
    };
    let ws = Z_PublishWebSocketEventArgs {
        a: "changed".into(),
        b: [(
            "n".to_owned(),
            Any::from_json(&serde_json::json!({"k": [1, "x"]})),
        )]
        .into(),
        c: Some(WebsocketBroadcast {
            user_id: "user1".into(),
            ..WebsocketBroadcast::default()
        }),
    };
    let perm = Z_PermissionArgs {
        a: "user1".into(),
        b: Some(Permission::id("manage_system")),
    };
    let bots = Z_GetBotsArgs {
        a: Some(BotGetOptions {
            per_page: 10,
            ..BotGetOptions::default()
        }),
    };
    let save = Z_MapArgs {
        a: [(
            "Greeting".to_owned(),
            Any::from_json(&serde_json::json!("Hi")),
        )]
        .into(),
    };
    let upload = Z_UploadFileArgs {
        a: Bytes(b"abc".to_vec()),
        b: "chan1".into(),
        c: "a.txt".into(),
    };
    let header: crate::http::Header =
        [("Content-Type".to_owned(), vec!["text/plain".to_owned()])].into();
    let write = Bytes(b"body".to_vec());
    let go = verify_in_go(&[
        ("api_create_post_args", &create),
        ("api_register_command_args", &command),
        ("api_ensure_bot_args", &bot),
        ("api_patch_bot_args", &patch),
        ("api_kv_set_options_args", &kv),
        ("api_log_info_args", &log),
        ("api_publish_ws_args", &ws),
        ("api_has_permission_args", &perm),
        ("api_get_bots_args", &bots),
        ("api_save_config_args", &save),
        ("api_upload_file_args", &upload),
        ("api_no_args", &Empty),
        ("http_sync_header_args", &header),
        ("http_write_header_args", &200i64),
        ("http_write_args", &write),
    ]);
    let p = &go["api_create_post_args"];
    assert_eq!(p["A"]["channel_id"], "chan1");
    assert_eq!(p["A"]["root_id"], "root1");
    assert_eq!(p["PropTypes"]["from_bot"], "string");
    assert_eq!(p["PropTypes"]["attachments"], "[]interface {}");
    assert_eq!(p["Attachments"][0]["text"], "att");
    assert_eq!(p["Attachments"][0]["fields"][0]["title"], "t");

    let c = &go["api_register_command_args"];
    assert_eq!(c["A"]["trigger"], "hello");
    assert_eq!(
        c["DataTypes"],
        serde_json::json!(["*model.AutocompleteTextArg"])
    );
    assert_eq!(
        c["A"]["autocomplete_data"]["Arguments"][0]["Data"]["Hint"],
        "world"
    );

    assert_eq!(go["api_ensure_bot_args"]["A"]["display_name"], "Hello Bot");
    assert_eq!(go["api_patch_bot_args"]["B"]["display_name"], "New");
    assert!(go["api_patch_bot_args"]["B"]["username"].is_null());
    assert_eq!(go["api_kv_set_options_args"]["C"]["ExpireInSeconds"], 15);
    assert_eq!(go["api_kv_set_options_args"]["C"]["Atomic"], true);
    assert_eq!(
        go["api_log_info_args"]["BTypes"],
        serde_json::json!(["string", "string"])
    );
    assert_eq!(go["api_publish_ws_args"]["B"]["n"]["k"][1], "x");
    assert_eq!(go["api_publish_ws_args"]["C"]["user_id"], "user1");
    assert_eq!(go["api_has_permission_args"]["B"]["id"], "manage_system");
    assert_eq!(go["api_get_bots_args"]["A"]["PerPage"], 10);
    assert_eq!(go["api_save_config_args"]["A"]["Greeting"], "Hi");
    assert_eq!(go["api_upload_file_args"]["A"], "YWJj");
    assert_eq!(go["http_sync_header_args"]["Content-Type"][0], "text/plain");
    assert_eq!(go["http_write_header_args"], 200);
    assert_eq!(go["http_write_args"], "Ym9keQ==");
}

#[test]
fn nested_autocomplete_validates_in_go() {
    let mut sub = AutocompleteData::new("pick", "", "pick one");
    sub.add_static_list_argument(
        "choice",
        true,
        vec![AutocompleteListItem {
            item: "a".into(),
            ..AutocompleteListItem::default()
        }],
    );
    let mut dynamic = AutocompleteData::new("dyn", "", "dynamic");
    dynamic.add_dynamic_list_argument("dyn arg", "/plugins/x/list", false);
    let mut root = AutocompleteData::new("probe", "", "");
    root.add_command(sub);
    root.add_command(dynamic);
    let command = Z_CommandArgs {
        a: Some(Command {
            trigger: "probe".into(),
            autocomplete_data: Some(root),
            ..Command::default()
        }),
    };
    let go = verify_in_go(&[("api_register_command_args", &command)]);
    let c = &go["api_register_command_args"];
    // No "invalid: …" entry: Go's AutocompleteData.IsValid accepted the tree.
    assert!(c["DataTypes"].is_null(), "{c}");
    let subs = &c["A"]["autocomplete_data"]["SubCommands"];
    assert_eq!(
        subs[0]["Arguments"][0]["Data"]["PossibleArguments"][0]["Item"],
        "a"
    );
    assert_eq!(
        subs[1]["Arguments"][0]["Data"]["FetchURL"],
        "/plugins/x/list"
    );
}

#[test]
fn scalar_api_args_decode_into_go_types() {
    let s = |v: &str| v.to_owned();
    let get_post = Z_StrArgs { a: s("post1") };
    let unregister = Z_StrStrArgs {
        a: s("team1"),
        b: s("hello"),
    };
    let get_bot = Z_StrBoolArgs {
        a: s("bot1"),
        b: true,
    };
    let by_name = Z_StrStrBoolArgs {
        a: s("team1"),
        b: s("town-square"),
        c: true,
    };
    let kv_set = Z_StrBytesArgs {
        a: s("k"),
        b: Bytes(b"v".to_vec()),
    };
    let ephemeral = Z_StrPostArgs {
        a: s("user1"),
        b: Some(Post::new("chan1", "only you")),
    };
    let perm = Z_PermissionScopedArgs {
        a: s("user1"),
        b: s("chan1"),
        c: Some(Permission::id("create_post")),
    };
    let expiry = Z_KVSetWithExpiryArgs {
        a: s("k"),
        b: Bytes(b"v".to_vec()),
        c: 60,
    };
    let cas = Z_KVCompareAndSetArgs {
        a: s("k"),
        b: Bytes(b"old".to_vec()),
        c: Bytes(b"new".to_vec()),
    };
    let list = Z_KVListArgs { a: 2, b: 50 };
    let go = verify_in_go(&[
        ("api_get_post_args", &get_post),
        ("api_unregister_command_args", &unregister),
        ("api_get_bot_args", &get_bot),
        ("api_get_channel_by_name_args", &by_name),
        ("api_kv_set_args", &kv_set),
        ("api_send_ephemeral_args", &ephemeral),
        ("api_has_permission_channel_args", &perm),
        ("api_kv_set_expiry_args", &expiry),
        ("api_kv_cas_args", &cas),
        ("api_kv_list_args", &list),
    ]);
    assert_eq!(go["api_get_post_args"]["A"], "post1");
    assert_eq!(go["api_unregister_command_args"]["B"], "hello");
    assert_eq!(go["api_get_bot_args"]["B"], true);
    assert_eq!(go["api_get_channel_by_name_args"]["B"], "town-square");
    assert_eq!(go["api_get_channel_by_name_args"]["C"], true);
    assert_eq!(go["api_kv_set_args"]["B"], "dg==");
    assert_eq!(go["api_send_ephemeral_args"]["B"]["message"], "only you");
    assert_eq!(
        go["api_has_permission_channel_args"]["C"]["id"],
        "create_post"
    );
    assert_eq!(go["api_kv_set_expiry_args"]["C"], 60);
    assert_eq!(go["api_kv_cas_args"]["C"], "bmV3");
    assert_eq!(
        (
            go["api_kv_list_args"]["A"].as_i64(),
            go["api_kv_list_args"]["B"].as_i64()
        ),
        (Some(2), Some(50))
    );
}

#[test]
fn runtime_shapes_from_go_decode() {
    // PostList with HasNext a *bool (v0.3.0) set to true, and a deleted post.
    let r: Z_PostListReturns = read_go("api_get_posts_since_returns");
    let list = r.a.expect("a PostList");
    assert_eq!(list.order, vec!["post2", "post1"]);
    assert!(list.has_next);
    assert_eq!(list.next_post_id, "post3");
    let ordered: Vec<&str> = list.ordered().map(|p| p.message.as_str()).collect();
    assert_eq!(ordered, ["newer", "hello?"]);
    assert_eq!(list.posts["post2"].delete_at, 1_700_000_000_001);
    assert_eq!(
        list.posts["post1"].prop_str("from_bot").as_deref(),
        Some("true")
    );

    let r: Z_UsersReturns = read_go("api_get_users_returns");
    let names: Vec<(&str, bool)> =
        r.a.iter()
            .map(|u| (u.username.as_str(), u.is_bot))
            .collect();
    assert_eq!(names, [("alice", false), ("bob", true)]);

    let c: Z_OnPluginClusterEventArgs = read_go("hook_cluster_event_args");
    assert_eq!(c.a.unwrap_or_default().request_id, "r5");
    assert_eq!(c.b.id, "config_changed");
    assert_eq!(c.b.data.0, vec![0, 0xff, 7]);

    // ConfigurationWillBeSaved: the whole default Config, read generically.
    let (dir, _) = golden();
    let data = std::fs::read(dir.join("gen/hook_config_will_be_saved_args.gob")).expect("vector");
    let value = gob::Decoder::new()
        .decode_value(&mut data.as_slice())
        .expect("decode config");
    let config = ConfigToSave::new(value.field("A").cloned());
    assert_eq!(
        config.plugin_settings("datasync"),
        Some(serde_json::json!({"syncs": "[[sync]]", "limits": {"rows": 3.0}}))
    );
    assert_eq!(config.plugin_settings("missing"), None);
    assert_eq!(
        config.to_json()["ServiceSettings"]["ListenAddress"],
        ":8065"
    );
}

#[test]
fn runtime_replies_and_args_decode_into_go_types() {
    let ok = Z_ConfigurationWillBeSavedReturns { b: Any::nil() };
    let err = Z_ConfigurationWillBeSavedReturns {
        b: AppError::new("datasync.config.invalid", "3 problems", 400).to_any(),
    };
    let since = Z_GetPostsSinceArgs {
        a: "chan1".into(),
        b: 1_700_000_000_000,
    };
    let page = Z_GetPostsForChannelArgs {
        a: "chan1".into(),
        b: 2,
        c: 60,
    };
    let ids = Z_StringsArgs {
        a: vec!["u1".into(), "u2".into()],
    };
    let delete = Z_StrArgs { a: "post1".into() };
    let cluster = Z_PublishPluginClusterEventArgs {
        a: PluginClusterEvent::new("config_changed", &[0, 0xff]),
        b: PluginClusterEventSendOptions {
            send_type: CLUSTER_SEND_RELIABLE.into(),
            target_id: String::new(),
        },
    };
    let go = verify_in_go(&[
        ("reply_config_will_be_saved_ok", &ok),
        ("reply_config_will_be_saved_err", &err),
        ("api_get_posts_since_args", &since),
        ("api_get_posts_for_channel_args", &page),
        ("api_get_users_by_ids_args", &ids),
        ("api_get_users_by_usernames_args", &ids),
        ("api_delete_post_args", &delete),
        ("api_publish_cluster_event_args", &cluster),
    ]);
    assert_eq!(go["reply_config_will_be_saved_ok"]["A_nil"], true);
    assert_eq!(go["reply_config_will_be_saved_ok"]["B_type"], "<nil>");
    assert_eq!(go["reply_config_will_be_saved_err"]["A_nil"], true);
    assert_eq!(
        go["reply_config_will_be_saved_err"]["B_type"],
        "*model.AppError"
    );
    assert_eq!(
        go["reply_config_will_be_saved_err"]["B"]["id"],
        "datasync.config.invalid"
    );
    assert_eq!(
        go["api_get_posts_since_args"],
        serde_json::json!({"A": "chan1", "B": 1_700_000_000_000_i64})
    );
    assert_eq!(
        go["api_get_posts_for_channel_args"],
        serde_json::json!({"A": "chan1", "B": 2, "C": 60})
    );
    assert_eq!(
        go["api_get_users_by_ids_args"]["A"],
        serde_json::json!(["u1", "u2"])
    );
    assert_eq!(
        go["api_get_users_by_usernames_args"]["A"],
        serde_json::json!(["u1", "u2"])
    );
    assert_eq!(go["api_delete_post_args"]["A"], "post1");
    assert_eq!(
        go["api_publish_cluster_event_args"],
        serde_json::json!({"A": {"Id": "config_changed", "Data": "AP8="},
            "B": {"SendType": "reliable", "TargetId": ""}})
    );
}
