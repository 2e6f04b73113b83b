//! The TypeScript side of the contract, generated from the Rust types with ts-rs into one
//! file, `ui/src/lib/ipc/bindings.ts`:
//!
//! - every payload type (with its doc comment), in name order;
//! - `Commands`: each command's arguments (JS names: camelCase) and result;
//! - `EVENTS` (event names) and `EventPayloads` (name → payload type).
//!
//! `cargo xtask codegen` rewrites the file (it runs the drift test below with
//! `LEGATO_UPDATE_BINDINGS=1`); `cargo test` fails while the committed file is stale.

use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use ts_rs::{TS, TypeVisitor};

use crate::events::UiEvent;
use crate::ipc::types::{
    CatchUp, ConflictNeedsUser, DeadLettered, EntriesChanged, SettingsView, SyncStatusView,
};

/// Where the bindings live, relative to the repository root.
pub const BINDINGS_PATH: &str = "ui/src/lib/ipc/bindings.ts";

/// One command for the bindings (built by the `contract!` macro).
#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    /// (Rust argument name, TS type).
    pub args: Vec<(&'static str, String)>,
    pub result: String,
    /// Visits the argument and result types, to declare them.
    pub visit: fn(&mut Collector),
}

/// One event for the bindings.
#[derive(Debug)]
pub struct EventSpec {
    pub name: &'static str,
    pub payload: String,
    visit: fn(&mut Collector),
}

fn event<E: UiEvent>() -> EventSpec {
    EventSpec {
        name: E::NAME,
        payload: ts_name::<E>(),
        visit: |collector| collector.visit_root::<E>(),
    }
}

/// Every event the shell sends.
pub fn events() -> Vec<EventSpec> {
    vec![
        event::<EntriesChanged>(),
        event::<SyncStatusView>(),
        event::<ConflictNeedsUser>(),
        event::<DeadLettered>(),
        event::<CatchUp>(),
        event::<SettingsView>(),
        event::<crate::ipc::types::TimerStatus>(),
    ]
}

/// A type's name in TypeScript (`()` is `null`: a command that answers nothing).
pub fn ts_name<T: TS + ?Sized>() -> String {
    T::name()
}

/// Collects the declarations of every named type reachable from the roots.
#[derive(Debug, Default)]
pub struct Collector {
    declarations: BTreeMap<String, String>,
    /// Every type seen, named or not (recursive types such as `JsonValue` end here).
    seen: HashSet<TypeId>,
}

impl Collector {
    pub fn visit_root<T: TS + 'static + ?Sized>(&mut self) {
        self.visit::<T>();
    }
}

impl TypeVisitor for Collector {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if !self.seen.insert(TypeId::of::<T>()) {
            return;
        }
        if T::output_path().is_some() {
            let mut declaration = T::docs().unwrap_or_default();
            declaration.push_str("export ");
            declaration.push_str(&T::decl());
            self.declarations.insert(T::ident(), declaration);
        }
        T::visit_dependencies(self);
        T::visit_generics(self);
    }
}

/// `snake_case` → `camelCase` (Tauri's default for command arguments).
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The key of an event in `EVENTS`: `legato://entries-changed` → `entriesChanged`.
fn event_key(name: &str) -> String {
    let short = name.rsplit('/').next().unwrap_or(name);
    camel_case(&short.replace('-', "_"))
}

/// The whole bindings file.
pub fn generate() -> String {
    let commands = super::commands();
    let events = events();
    let mut collector = Collector::default();
    // What every command rejects with.
    collector.visit_root::<super::error::IpcError>();
    for command in &commands {
        (command.visit)(&mut collector);
    }
    for event in &events {
        (event.visit)(&mut collector);
    }

    let mut out = String::from(
        "// Generated from the Rust types of src-tauri/src/ipc by `cargo xtask codegen` (ts-rs).\n\
         // Do not edit: change the Rust side and regenerate; a test fails while this file is stale.\n\n",
    );
    for declaration in collector.declarations.values() {
        out.push_str(declaration.trim_end());
        out.push_str("\n\n");
    }

    out.push_str(
        "/** Every command: its arguments (as passed to `invoke`) and what it resolves to. \
         It rejects with an `IpcError`. */\nexport type Commands = {\n",
    );
    for command in &commands {
        let args = command
            .args
            .iter()
            .map(|(name, ty)| format!("{}: {ty}", camel_case(name)))
            .collect::<Vec<_>>()
            .join("; ");
        let args = if args.is_empty() {
            "Record<string, never>".to_owned()
        } else {
            format!("{{ {args} }}")
        };
        let _ = writeln!(
            out,
            "  {}: {{ args: {args}; result: {} }};",
            command.name, command.result
        );
    }
    out.push_str("};\n\n");

    out.push_str("/** The names of the events the shell sends. */\nexport const EVENTS = {\n");
    for event in &events {
        let _ = writeln!(out, "  {}: \"{}\",", event_key(event.name), event.name);
    }
    out.push_str("} as const;\n\n");
    out.push_str("/** Each event's payload type. */\nexport type EventPayloads = {\n");
    for event in &events {
        let _ = writeln!(out, "  \"{}\": {};", event.name, event.payload);
    }
    out.push_str("};\n");
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The drift check: the committed bindings are what the Rust types generate. With
    /// `LEGATO_UPDATE_BINDINGS=1` (`cargo xtask codegen`) it rewrites them instead.
    #[test]
    fn committed_bindings_match_the_rust_types() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS_PATH);
        let generated = generate();
        if std::env::var_os("LEGATO_UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is stale: run `cargo xtask codegen` and commit the result",
            path.display()
        );
    }

    #[test]
    fn the_bindings_declare_every_type_they_use() {
        let text = generate();
        for name in [
            "Entry",
            "EntryInput",
            "EntryFilter",
            "IpcError",
            "SyncStatusView",
            "ConflictResolution",
            "JsonValue",
        ] {
            assert!(
                text.contains(&format!("export type {name} =")),
                "{name} missing"
            );
        }
        assert!(
            text.contains("  list_entries: { args: { filter: EntryFilter }; result: EntryList };")
        );
        assert!(text.contains(
            "  set_conflict_strategy: { args: { entityType: EntityKind; strategy: ConflictStrategy }; result: SettingsView };"
        ));
        assert!(text.contains("  get_stats: { args: Record<string, never>; result: Stats };"));
        assert!(
            text.contains("  retry_dead_letter: { args: { changeId: string }; result: null };")
        );
        assert!(text.contains("  entriesChanged: \"legato://entries-changed\","));
        assert!(text.contains("  \"legato://sync-status\": SyncStatusView;"));
        assert!(!text.contains("bigint"), "every integer is a JS number");
    }

    #[test]
    fn names_convert_like_tauri_does() {
        assert_eq!(camel_case("change_id"), "changeId");
        assert_eq!(camel_case("entity_type"), "entityType");
        assert_eq!(camel_case("id"), "id");
        assert_eq!(
            event_key("legato://conflict-needs-user"),
            "conflictNeedsUser"
        );
    }
}
