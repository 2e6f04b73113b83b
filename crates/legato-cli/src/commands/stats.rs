//! `legato stats`: practice totals and the streak, in the local time zone.

use anyhow::Result;
use chrono::Local;
use serde::Serialize;

use super::explain;
use crate::cli::JsonFlag;
use crate::context::{Context, now_ms};
use crate::output::print_json;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    today_minutes: u64,
    /// This ISO week, Monday to Sunday.
    week_minutes: u64,
    all_minutes: u64,
    /// Consecutive days with practice, ending today (or yesterday while today is empty).
    streak_days: u32,
}

pub fn run(ctx: &Context, args: &JsonFlag) -> Result<()> {
    let store = ctx.store()?;
    let now = now_ms();
    // Days are local days: the offset of now, as the user's calendar sees it.
    let offset_minutes = Local::now().offset().local_minus_utc() / 60;
    let totals = store.totals(now, offset_minutes).map_err(explain)?;
    let stats = Stats {
        today_minutes: totals.today,
        week_minutes: totals.week,
        all_minutes: totals.all,
        streak_days: store.streak(now, offset_minutes).map_err(explain)?,
    };
    if args.json {
        return print_json(&stats);
    }
    println!("today   {} min", stats.today_minutes);
    println!("week    {} min", stats.week_minutes);
    println!("all     {} min", stats.all_minutes);
    let days = if stats.streak_days == 1 {
        "day"
    } else {
        "days"
    };
    println!("streak  {} {days}", stats.streak_days);
    Ok(())
}
