//! Every recorded CSBS JSON sample (docs/csbs-api.md §6) parses into the client's models, and the
//! live service's deviations (fractional numbers, `extra_info` as a string, nulls) are tolerated.

use csbs_deleter::csbs::models::{
    CheckpointEnvelope, CountEnvelope, ExtraInfo, ItemEnvelope, ListEnvelope, ProtectableEnvelope,
};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/csbs/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn get_item_samples_parse() {
    for name in ["gtc_get_item.json", "otc_doc_get_item.json"] {
        let env: ItemEnvelope = serde_json::from_str(&fixture(name)).unwrap();
        let item = env.checkpoint_item.unwrap();
        assert_eq!(item.status(), "available");
        assert!(!item.deletion_failed());
        let info = item.extend_info.unwrap();
        assert_eq!(info.progress, Some(100.0));
        assert_eq!(info.volume_backups.unwrap().len(), 2);
    }
}

#[test]
fn list_sample_parses() {
    let env: ListEnvelope = serde_json::from_str(&fixture("gtc_list_items.json")).unwrap();
    assert_eq!(env.checkpoint_items.len(), 1);
    assert_eq!(
        env.checkpoint_items[0].checkpoint_id.as_deref(),
        Some("2eefe592-8424-4778-8d0d-962c8a5dd6a4")
    );
}

#[test]
fn checkpoint_samples_parse_with_extra_info_as_string_or_object() {
    let gtc: CheckpointEnvelope = serde_json::from_str(&fixture("gtc_create_checkpoint.json")).unwrap();
    let res = &gtc.checkpoint.unwrap().protection_plan.unwrap().resources[0];
    assert_eq!(res.extra_info, Some(ExtraInfo::Text("{}".into())));
    assert_eq!(res.extra_info.as_ref().unwrap().as_object(), Some(Default::default()));
    let doc: CheckpointEnvelope = serde_json::from_str(&fixture("otc_doc_create_checkpoint.json")).unwrap();
    let cp = doc.checkpoint.unwrap();
    assert_eq!(cp.status.as_deref(), Some("protecting"));
    assert!(cp.extra_info.is_none(), "null extra_info");
    assert!(matches!(
        cp.protection_plan.unwrap().resources[0].extra_info,
        Some(ExtraInfo::Object(_))
    ));
    let quoted = r#"{"checkpoint":{"id":"x","extra_info":"{\"created_by\": \"manual\"}"}}"#;
    let env: CheckpointEnvelope = serde_json::from_str(quoted).unwrap();
    let obj = env.checkpoint.unwrap().extra_info.unwrap().as_object().unwrap();
    assert_eq!(obj["created_by"], "manual");
}

#[test]
fn protectable_sample_parses() {
    let env: ProtectableEnvelope = serde_json::from_str(&fixture("gtc_check_protectable.json")).unwrap();
    assert_eq!(env.protectable[0].result, Some(true));
}

#[test]
fn live_service_deviations_are_tolerated() {
    // 29.9 where the docs say int (TF-OTC PR #1357), nulls, missing fields, unknown fields.
    let body = r#"{"checkpoint_item":{"id":"i","status":null,"new_field":1,
        "extend_info":{"average_speed":29.9,"space_saving_ratio":1.5,"progress":99.5,"size":null,
        "fail_code":{"Code":12,"Description":"x"},"fail_op":"delete","copy_from":null}}}"#;
    let item = serde_json::from_str::<ItemEnvelope>(body)
        .unwrap()
        .checkpoint_item
        .unwrap();
    assert_eq!(item.extend_info.as_ref().unwrap().average_speed, Some(29.9));
    assert_eq!(item.status(), "");
    let failed = r#"{"checkpoint_item":{"id":"i","status":"error","extend_info":{"fail_op":"delete","fail_reason":"","fail_code":{"Code":"X","Description":"disk busy"}}}}"#;
    let item = serde_json::from_str::<ItemEnvelope>(failed)
        .unwrap()
        .checkpoint_item
        .unwrap();
    assert!(item.deletion_failed());
    assert_eq!(item.fail_reason().as_deref(), Some("disk busy"));
    let count: CountEnvelope = serde_json::from_str(r#"{"count" : 10}"#).unwrap();
    assert_eq!(count.count, Some(10.0));
    let empty: ListEnvelope = serde_json::from_str("{}").unwrap();
    assert!(empty.checkpoint_items.is_empty());
}
