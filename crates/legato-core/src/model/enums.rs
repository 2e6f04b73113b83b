//! The closed string sets of section 1 as enums. Each has `as_str`, `Display` and `FromStr`
//! (the CLI parses flags with them) and serializes as its wire string.

use std::fmt;
use std::str::FromStr;

/// A string that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected one of: {})", expected.join(", "))]
pub struct ParseEnumError {
    /// What was parsed, e.g. `mood`.
    pub what: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant ),+
        }

        impl $name {
            /// Every value, in the order of the spec's table.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire names, in the order of [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| ParseEnumError {
                        what: $what,
                        value: s.to_owned(),
                        expected: Self::NAMES,
                    })
            }
        }
    };
}

wire_enum! {
    /// Logbook `type`: what kind of session it was.
    #[derive(Default)]
    EntryType, "entry type" {
        #[default]
        Practice => "practice",
        Performance => "performance",
        Lesson => "lesson",
        Rehearsal => "rehearsal",
        Technique => "technique",
        /// A record of a repertoire status change (kept in the log for history views).
        StatusChange => "status_change",
    }
}

wire_enum! {
    /// Logbook `mood`.
    Mood, "mood" {
        Frustrated => "frustrated",
        Neutral => "neutral",
        Satisfied => "satisfied",
        Excited => "excited",
    }
}

wire_enum! {
    /// Repertoire `status`: where a piece stands.
    #[derive(Default)]
    PieceStatus, "piece status" {
        #[default]
        Planned => "planned",
        Learning => "learning",
        Polished => "polished",
        Performed => "performed",
        Dropped => "dropped",
    }
}

wire_enum! {
    /// Goal `type`.
    #[derive(Default)]
    GoalType, "goal type" {
        PracticeTime => "practice_time",
        Repertoire => "repertoire",
        #[default]
        Custom => "custom",
    }
}

wire_enum! {
    /// Goal `period`: the window `targetMinutes` and `progress` count over.
    #[derive(Default)]
    GoalPeriod, "goal period" {
        Day => "day",
        Week => "week",
        Month => "month",
        #[default]
        Total => "total",
    }
}

wire_enum! {
    /// Goal `status`.
    #[derive(Default)]
    GoalStatus, "goal status" {
        #[default]
        Active => "active",
        Completed => "completed",
        Paused => "paused",
        Abandoned => "abandoned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy + fmt::Display + FromStr<Err = ParseEnumError> + PartialEq + fmt::Debug,
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        for &value in all {
            let wire = value.to_string();
            assert_eq!(wire.parse::<T>().unwrap(), value);
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                serde_json::json!(wire)
            );
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(wire)).unwrap(),
                value
            );
        }
    }

    #[test]
    fn every_enum_round_trips_through_its_wire_name() {
        round_trips(EntryType::ALL);
        round_trips(Mood::ALL);
        round_trips(PieceStatus::ALL);
        round_trips(GoalType::ALL);
        round_trips(GoalPeriod::ALL);
        round_trips(GoalStatus::ALL);
        assert_eq!(EntryType::StatusChange.as_str(), "status_change");
        assert_eq!(GoalType::PracticeTime.as_str(), "practice_time");
    }

    #[test]
    fn unknown_names_are_a_clear_error() {
        let err = "Happy".parse::<Mood>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown mood `Happy` (expected one of: frustrated, neutral, satisfied, excited)"
        );
    }
}
