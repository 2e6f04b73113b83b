use serde_json::{Value, json};

use crate::support::Device;

fn find(list: &Value, id: &str) -> Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .unwrap()
}

#[test]
fn repertoire_add_edit_list() {
    let device = Device::offline();
    let id = device.ok(&[
        "repertoire",
        "add",
        "Ballade No. 1",
        "--composer",
        "Chopin",
        "--status",
        "learning",
        "--difficulty",
        "4",
        "--link",
        "https://imslp.org/ballade",
        "--tag",
        "romantic",
        "--notes",
        "coda!",
    ]);
    let id = id.trim();
    let item = find(&device.json(&["repertoire", "list", "--json"]), id);
    assert_eq!(item["title"], "Ballade No. 1");
    assert_eq!(item["composer"], "Chopin");
    assert_eq!(item["status"], "learning");
    assert_eq!(item["difficulty"], 4);
    assert_eq!(item["referenceLinks"], json!(["https://imslp.org/ballade"]));
    assert_eq!(item["statusHistory"].as_array().unwrap().len(), 1);

    device.ok(&[
        "repertoire",
        "edit",
        id,
        "--status",
        "polished",
        "--difficulty",
        "",
    ]);
    let item = find(&device.json(&["repertoire", "list", "--json"]), id);
    assert_eq!(item["status"], "polished");
    assert_eq!(item["difficulty"], Value::Null);
    let history = item["statusHistory"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["from"], "learning");
    assert_eq!(history[1]["to"], "polished");
    assert_eq!(item["composer"], "Chopin");

    let err = device.fails(&["repertoire", "edit", id, "--difficulty", "9"]);
    assert!(err.contains("difficulty"), "{err}");
    let err = device.fails(&["repertoire", "add", "X", "--status", "done"]);
    assert!(
        err.contains("planned, learning, polished, performed, dropped"),
        "{err}"
    );
    assert!(device.ok(&["repertoire", "list"]).contains("Ballade No. 1"));
}

#[test]
fn goal_add_edit_list() {
    let device = Device::offline();
    let piece = device.ok(&["repertoire", "add", "Etude"]).trim().to_owned();
    let id = device.ok(&[
        "goal",
        "add",
        "Practice daily",
        "--type",
        "practice_time",
        "--target-minutes",
        "30",
        "--period",
        "day",
        "--target-date",
        "2026-12-31T00:00:00Z",
        "--piece-id",
        &piece,
        "--tag",
        "habit",
        "--description",
        "every day",
    ]);
    let id = id.trim();
    let goal = find(&device.json(&["goal", "list", "--json"]), id);
    assert_eq!(goal["type"], "practice_time");
    assert_eq!(goal["targetMinutes"], 30);
    assert_eq!(goal["period"], "day");
    assert_eq!(goal["targetDate"], "2026-12-31T00:00:00.000Z");
    assert_eq!(goal["pieceIds"], json!([piece]));
    assert_eq!(goal["status"], "active");
    assert_eq!(goal["progress"], 0);

    device.ok(&[
        "goal",
        "edit",
        id,
        "--add-progress",
        "25",
        "--status",
        "paused",
    ]);
    device.ok(&[
        "goal",
        "edit",
        id,
        "--add-progress",
        "-5",
        "--target-date",
        "",
    ]);
    let goal = find(&device.json(&["goal", "list", "--json"]), id);
    assert_eq!(goal["progress"], 20);
    assert_eq!(goal["status"], "paused");
    assert_eq!(goal["targetDate"], Value::Null);
    assert_eq!(goal["description"], "every day");

    let err = device.fails(&["goal", "add", "X", "--period", "year"]);
    assert!(err.contains("day, week, month, total"), "{err}");
    let err = device.fails(&["goal", "edit", "missing", "--title", "Y"]);
    assert!(err.contains("no goal with id missing"), "{err}");
    assert!(device.ok(&["goal", "list"]).contains("Practice daily"));
}

#[test]
fn goal_milestones_are_added_checked_and_removed() {
    let device = Device::offline();
    let id = device.ok(&[
        "goal",
        "add",
        "Recital",
        "--milestone",
        "Learn the notes",
        "--milestone",
        "Memorize",
    ]);
    let id = id.trim();
    let goal = find(&device.json(&["goal", "list", "--json"]), id);
    assert_eq!(goal["milestones"][0]["id"], "m1");
    assert_eq!(goal["milestones"][1]["title"], "Memorize");
    assert_eq!(goal["milestones"][1]["done"], false);

    device.ok(&[
        "goal",
        "edit",
        id,
        "--done",
        "memorize",
        "--milestone",
        "Play it",
    ]);
    let goal = find(&device.json(&["goal", "list", "--json"]), id);
    let milestones = goal["milestones"].as_array().unwrap();
    assert_eq!(milestones.len(), 3);
    assert_eq!(milestones[1]["done"], true);
    assert!(milestones[1]["doneAt"].is_string(), "{goal}");
    assert_eq!(milestones[2]["id"], "m3");
    assert!(device.ok(&["goal", "list"]).contains("1/3"));

    device.ok(&[
        "goal",
        "edit",
        id,
        "--undone",
        "m2",
        "--remove-milestone",
        "m1",
    ]);
    let goal = find(&device.json(&["goal", "list", "--json"]), id);
    let milestones = goal["milestones"].as_array().unwrap();
    assert_eq!(milestones.len(), 2);
    assert_eq!(milestones[0]["done"], false);
    assert_eq!(milestones[0]["doneAt"], Value::Null);

    let err = device.fails(&["goal", "edit", id, "--done", "Perform"]);
    assert!(err.contains("no milestone `Perform`"), "{err}");
}

#[test]
fn log_pieces_carry_measures_tempo_and_score() {
    let device = Device::offline();
    let piece = device.ok(&["repertoire", "add", "Etude"]).trim().to_owned();
    let id = device.add(&[
        "--duration",
        "20",
        "--piece",
        "Etude",
        "--piece",
        "Scales",
        "--measures",
        "1-16",
        "--measures",
        "",
        "--tempo",
        "80",
        "--score-id",
        &piece,
        "--score-id",
        "",
    ]);
    let entry = find(&device.json(&["log", "list", "--json"]), &id);
    assert_eq!(entry["pieces"][0]["measures"], "1-16");
    assert_eq!(entry["pieces"][0]["tempo"], 80);
    assert_eq!(entry["pieces"][1]["tempo"], 80);
    assert_eq!(entry["pieces"][0]["scoreId"], piece.as_str());
    assert!(entry["pieces"][1].get("scoreId").is_none_or(Value::is_null));

    let err = device.fails(&["log", "edit", &id, "--tempo", "90"]);
    assert!(err.contains("--tempo needs --piece"), "{err}");
    let err = device.fails(&[
        "log",
        "add",
        "--duration",
        "5",
        "--piece",
        "A",
        "--tempo",
        "0",
    ]);
    assert!(err.contains("tempo"), "{err}");
}

#[test]
fn stats_sum_today_and_count_the_streak() {
    let device = Device::offline();
    let now = chrono::Utc::now();
    device.add(&["--duration", "30"]);
    device.add(&["--duration", "15"]);
    let yesterday = (now - chrono::Duration::days(1)).to_rfc3339();
    device.add(&["--duration", "10", "--at", &yesterday]);
    let stats = device.json(&["stats", "--json"]);
    assert_eq!(stats["todayMinutes"], 45);
    assert_eq!(stats["allMinutes"], 55);
    assert_eq!(stats["streakDays"], 2);
    assert!(stats["weekMinutes"].as_u64().unwrap() >= 45);
    assert!(device.ok(&["stats"]).contains("streak  2 days"));
}
