//! Round trips against literal JSON taken from PROTOCOL.md, so a renamed field or a changed
//! casing fails here before it reaches another client.

use legato_protocol::*;
use serde_json::{Value, json};

/// Parses `text` as `T`, serialises it back, and checks the JSON is the same value.
fn round_trip<T>(text: &str) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let parsed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let back = serde_json::to_value(&parsed).unwrap();
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(back, original, "round trip changed the JSON");
    parsed
}

#[test]
fn change_from_section_3() {
    let change: Change = round_trip(
        r#"{ "changeId": "0193a", "entityType": "logbook", "entityId": "0193b",
             "operation": "update",
             "data": { "duration": 45, "notes": "slow practice" },
             "baseVersion": 3, "clientId": "dev-7f3c", "timestamp": 1764095400000 }"#,
    );
    assert_eq!(change.operation, Operation::Update);
    assert_eq!(change.entity_type, EntityType::Logbook);
    assert_eq!(change.base_version, 3);
    assert_eq!(change.data["duration"], json!(45));
}

#[test]
fn unknown_entity_fields_are_preserved() {
    let text = r#"{"changeId":"c1","entityType":"goals","entityId":"g1","operation":"create",
        "data":{"title":"Scales","fromTheFuture":{"nested":[1,2,{"x":null}]},"zzz":1.5},
        "baseVersion":0,"clientId":"d","timestamp":1}"#;
    let change: Change = round_trip(text);
    assert_eq!(
        change.data["fromTheFuture"],
        json!({"nested": [1, 2, {"x": null}]})
    );
    let msg = ClientMessage::parse(&format!(r#"{{"type":"sync","data":{text}}}"#)).unwrap();
    let ClientMessage::Sync { data } = msg else {
        panic!("not a sync")
    };
    assert_eq!(data.data["zzz"], json!(1.5));
}

#[test]
fn delete_may_omit_data() {
    let change: Change = serde_json::from_str(
        r#"{"changeId":"c","entityType":"repertoire","entityId":"r","operation":"delete",
            "baseVersion":2,"clientId":"d","timestamp":5}"#,
    )
    .unwrap();
    assert!(change.data.is_empty());
}

#[test]
fn conflict_from_section_4() {
    let conflict: ConflictData = round_trip(
        r#"{ "changeId": "c9", "entityType": "logbook", "entityId": "e1",
             "baseVersion": 3, "remoteVersion": 5, "remoteDeleted": false,
             "local": { "notes": "mine" }, "remote": { "notes": "theirs", "duration": 30 },
             "fields": ["notes", "duration"] }"#,
    );
    assert_eq!(conflict.remote_version, 5);
    assert_eq!(conflict.fields, ["notes", "duration"]);
}

#[test]
fn client_messages_of_section_5_1() {
    let hello =
        ClientMessage::parse(r#"{"type":"hello","clientId":"dev-1","protocol":1,"compress":true}"#)
            .unwrap();
    assert_eq!(
        hello,
        ClientMessage::Hello {
            client_id: "dev-1".into(),
            protocol: 1,
            compress: true
        }
    );
    let hello: ClientMessage = round_trip(r#"{"type":"hello","clientId":"dev-1","protocol":1}"#);
    assert!(matches!(
        hello,
        ClientMessage::Hello {
            compress: false,
            ..
        }
    ));
    let sub: ClientMessage = round_trip(
        r#"{"type":"subscribe","entities":["logbook","repertoire","goals"],"since":42}"#,
    );
    assert_eq!(
        sub,
        ClientMessage::Subscribe {
            entities: EntityType::ALL.to_vec(),
            since: 42
        }
    );
    let ping: ClientMessage = round_trip(r#"{"type":"ping"}"#);
    assert_eq!(ping, ClientMessage::Ping);
}

#[test]
fn server_messages_of_section_5_1() {
    let update: ServerMessage = round_trip(
        r#"{"type":"update","data":{"entityType":"logbook","entityId":"e1",
            "data":{"duration":50},"version":4,"deleted":false,"seq":17,
            "timestamp":1764095400000,"userId":"u1","clientId":"dev-2","changeId":"c2","full":false}}"#,
    );
    let ServerMessage::Update { data } = update else {
        panic!()
    };
    assert_eq!((data.version, data.seq, data.full), (4, 17, false));

    let ack: ServerMessage = round_trip(
        r#"{"type":"ack","changeId":"c2","status":"duplicate","version":4,"seq":17,"data":{"progress":7}}"#,
    );
    assert!(matches!(
        ack,
        ServerMessage::Ack {
            status: AckStatus::Duplicate,
            ..
        }
    ));

    let done: ServerMessage =
        round_trip(r#"{"type":"sync_complete","seq":17,"timestamp":1764095400123}"#);
    assert_eq!(
        done,
        ServerMessage::SyncComplete {
            seq: 17,
            timestamp: 1764095400123
        }
    );

    let err: ServerMessage = round_trip(
        r#"{"type":"error","code":"not_found","message":"no such entity","changeId":"c3"}"#,
    );
    assert!(matches!(
        err,
        ServerMessage::Error {
            code: ErrorCode::NotFound,
            change_id: Some(_),
            ..
        }
    ));
    let err: ServerMessage =
        round_trip(r#"{"type":"error","code":"too_large","message":"frame over 1 MiB"}"#);
    assert!(matches!(
        err,
        ServerMessage::Error {
            change_id: None,
            ..
        }
    ));

    let conflict: ServerMessage = round_trip(
        r#"{"type":"conflict","data":{"changeId":"c","entityType":"goals","entityId":"g",
            "baseVersion":1,"remoteVersion":2,"remoteDeleted":true,"local":{},"remote":{"title":"x"},"fields":[]}}"#,
    );
    assert!(matches!(conflict, ServerMessage::Conflict { .. }));
    assert_eq!(
        round_trip::<ServerMessage>(r#"{"type":"pong"}"#),
        ServerMessage::Pong
    );
}

#[test]
fn http_payloads_of_section_5_2() {
    let reg: RegisterRequest =
        round_trip(r#"{"email":"a@example.com","password":"hunter22","deviceName":"laptop"}"#);
    assert_eq!(reg.device_name.as_deref(), Some("laptop"));
    round_trip::<RegisterRequest>(r#"{"email":"a@example.com","password":"hunter22"}"#);
    round_trip::<AuthResponse>(r#"{"userId":"u1","token":"abc"}"#);
    round_trip::<BatchRequest>(
        r#"{"items":[{"changeId":"c","entityType":"logbook","entityId":"e","operation":"delete",
            "data":{},"baseVersion":1,"clientId":"d","timestamp":1}]}"#,
    );
    let resp: BatchResponse = round_trip(
        r#"{"results":[
            {"changeId":"a","status":"applied","version":1,"seq":1,"data":{"duration":5}},
            {"changeId":"b","status":"duplicate","version":1,"seq":1,"data":{}},
            {"changeId":"c","status":"conflict","conflict":{"changeId":"c","entityType":"logbook","entityId":"e",
              "baseVersion":0,"remoteVersion":1,"remoteDeleted":false,"local":{},"remote":{},"fields":["notes"]}},
            {"changeId":"d","status":"error","error":{"code":"invalid","message":"field `duration`: too long"}}]}"#,
    );
    assert_eq!(resp.results[3].status, BatchItemStatus::Error);
    let changes: ChangesResponse = round_trip(
        r#"{"changes":[{"entityType":"repertoire","entityId":"r","data":{"title":"Suite"},"version":2,
            "deleted":true,"seq":9,"timestamp":3,"userId":"u","clientId":"d","changeId":"c","full":true}],
            "seq":9,"hasMore":true}"#,
    );
    assert!(changes.has_more && changes.changes[0].deleted);
    let err: ErrorResponse = round_trip(r#"{"error":{"code":"email_taken","message":"taken"}}"#);
    assert_eq!(err.error.code, ErrorCode::EmailTaken);
}

#[test]
fn unknown_message_types_are_typed_errors() {
    assert_eq!(
        ClientMessage::parse(r#"{"type":"shout","data":1}"#),
        Err(MessageError::UnknownType("shout".into()))
    );
    assert_eq!(
        ServerMessage::parse(r#"{"type":"hello","clientId":"x","protocol":1}"#),
        Err(MessageError::UnknownType("hello".into()))
    );
    assert_eq!(
        ClientMessage::parse(r#"{"data":1}"#),
        Err(MessageError::MissingType)
    );
    assert_eq!(
        ClientMessage::parse(r#"[1,2]"#),
        Err(MessageError::MissingType)
    );
    assert!(matches!(
        ClientMessage::parse("{not json"),
        Err(MessageError::Malformed(_))
    ));
    let err = ClientMessage::parse(r#"{"type":"subscribe","entities":["logbook"],"since":"x"}"#)
        .unwrap_err();
    assert!(
        matches!(&err, MessageError::InvalidFields { kind, .. } if kind == "subscribe"),
        "{err}"
    );
    let err = ClientMessage::parse(
        r#"{"type":"sync","data":{"changeId":"c","entityType":"logbook","entityId":"bad id!",
            "operation":"create","data":{},"baseVersion":0,"clientId":"d","timestamp":1}}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("entity id"), "{err}");
}

#[test]
fn unknown_error_codes_parse() {
    let msg = ServerMessage::parse(r#"{"type":"error","code":"teapot","message":"x"}"#).unwrap();
    assert!(matches!(
        msg,
        ServerMessage::Error {
            code: ErrorCode::Unknown,
            ..
        }
    ));
}

#[test]
fn frames_parse_whatever_the_key_order_and_reject_what_is_not_a_message() {
    // `type` last, an unknown field: the same message as the canonical form.
    let update = ServerMessage::parse(
        r#"{"data":{"entityType":"logbook","entityId":"e1","data":{"duration":30},
            "version":2,"deleted":false,"seq":7,"timestamp":1,"userId":"u","clientId":"c",
            "changeId":"ch","full":false},"extra":[1,{"a":null}],"type":"update"}"#,
    )
    .unwrap();
    assert_eq!(ServerMessage::parse(&update.to_json()), Ok(update.clone()));
    let ServerMessage::Update { data } = &update else {
        panic!("{update:?}")
    };
    assert_eq!((data.seq, data.version), (7, 2));

    let sync = ClientMessage::parse(
        r#"{"data":{"changeId":"c","entityType":"logbook","entityId":"e1","operation":"delete",
            "clientId":"d","timestamp":1},"type":"sync"}"#,
    )
    .unwrap();
    assert_eq!(ClientMessage::parse(&sync.to_json()), Ok(sync));

    // A `type` that is not a string, or JSON that is not an object, has no type.
    for text in [r#"{"type":7}"#, r#"["sync"]"#, r#""ping""#, "null"] {
        assert_eq!(
            ClientMessage::parse(text),
            Err(MessageError::MissingType),
            "{text}"
        );
    }
    // Broken JSON anywhere in the frame, even after a good `type`.
    for text in [r#"{"type":"ping","x":}"#, r#"{"type":"ping"} trailing"#, ""] {
        assert!(
            matches!(ClientMessage::parse(text), Err(MessageError::Malformed(_))),
            "{text}"
        );
    }
    // The hot paths name the message kind in their errors like the others.
    let err =
        ServerMessage::parse(r#"{"type":"update","data":{"entityType":"logbook"}}"#).unwrap_err();
    assert!(
        matches!(&err, MessageError::InvalidFields { kind, .. } if kind == "update"),
        "{err}"
    );
    let err = ClientMessage::parse(r#"{"type":"sync"}"#).unwrap_err();
    assert!(
        matches!(&err, MessageError::InvalidFields { kind, detail } if kind == "sync" && detail.contains("data")),
        "{err}"
    );
}

/// `unchanged` (docs/PROTOCOL-NOTES.md): rule 6's ack carries a seq that is not the client's
/// own. The flag is optional and omitted when false, so every frame without it is the same
/// bytes as before, and a frame from an older server reads as `unchanged: false`.
#[test]
fn unchanged_acks_are_flagged_and_other_frames_stay_byte_identical() {
    let plain = r#"{"type":"ack","changeId":"c2","status":"applied","version":4,"seq":17,"data":{"progress":7}}"#;
    let ack = ServerMessage::parse(plain).unwrap();
    assert!(
        matches!(
            ack,
            ServerMessage::Ack {
                unchanged: false,
                ..
            }
        ),
        "{ack:?}"
    );
    assert_eq!(
        ack.to_json(),
        plain,
        "a frame without the flag is unchanged"
    );

    let flagged = r#"{"type":"ack","changeId":"c3","status":"duplicate","version":4,"seq":17,"data":{},"unchanged":true}"#;
    let ack = ServerMessage::parse(flagged).unwrap();
    assert!(
        matches!(
            ack,
            ServerMessage::Ack {
                status: AckStatus::Duplicate,
                unchanged: true,
                ..
            }
        ),
        "{ack:?}"
    );
    assert_eq!(ack.to_json(), flagged);

    let plain = r#"{"changeId":"a","status":"applied","version":1,"seq":1,"data":{"duration":5}}"#;
    let result: BatchResult = serde_json::from_str(plain).unwrap();
    assert!(!result.unchanged);
    assert_eq!(serde_json::to_string(&result).unwrap(), plain);
    let flagged: BatchResult = round_trip(
        r#"{"changeId":"b","status":"applied","version":1,"seq":1,"data":{},"unchanged":true}"#,
    );
    assert!(flagged.unchanged);
}

/// `change_id_reused` (docs/PROTOCOL-NOTES.md): a seen change id with other content. It is
/// permanent: resending the same change can never succeed.
#[test]
fn change_id_reused_is_a_permanent_code() {
    let err: ServerMessage = round_trip(
        r#"{"type":"error","code":"change_id_reused","message":"changeId `c2` was used for another change","changeId":"c2"}"#,
    );
    assert!(matches!(
        err,
        ServerMessage::Error {
            code: ErrorCode::ChangeIdReused,
            ..
        }
    ));
    assert_eq!(ErrorCode::ChangeIdReused.as_str(), "change_id_reused");
    assert!(!ErrorCode::ChangeIdReused.is_transient());
    let item: BatchResult = round_trip(
        r#"{"changeId":"c2","status":"error","error":{"code":"change_id_reused","message":"m"}}"#,
    );
    assert_eq!(item.error.unwrap().code, ErrorCode::ChangeIdReused);
}
