//! The practice timer: one session at a time, kept in the store so it survives an app
//! restart and a crash (every step is one committed transaction).
//!
//! The timer is local to this device: it is not an entity, never goes into the outbox and
//! never syncs (tables `timer` and `timer_segments`, schema version 7). What syncs is the
//! logbook entry it ends in ([`Store::finish_timer`]).
//!
//! A session is a list of **segments**, one per piece practised (or one without a piece),
//! each with the active time spent on it and the metronome tempo last used on it. Time comes
//! in as arguments (`now_ms`, ms since the epoch): the store never reads a clock. A clock
//! that jumps back never makes time negative (a stretch ending before it began counts 0).
//!
//! States: running → paused → running ... → stopped (time frozen, waiting for its entry to
//! be saved, [`Store::finish_timer`], or for [`Store::discard_timer`]). A stopped session
//! can be trimmed ([`Store::trim_timer`]) before it is logged: a timer left running is
//! common, and the time cut goes from the end of the session backwards.

use legato_core::LogbookEntry;
use legato_core::model::PieceRef;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Result, StoreError};
use crate::store::{Store, write_tx};

/// The metronome tempos a session records, in beats per minute.
pub const TEMPO_RANGE: std::ops::RangeInclusive<i64> = 20..=300;
/// The longest piece title the timer accepts (PROTOCOL.md 1.1 `pieces[].title`).
pub const MAX_TITLE_CHARS: usize = 200;
/// A logbook entry lasts at most this many minutes (PROTOCOL.md 1.1 `duration`).
pub const MAX_ENTRY_MINUTES: u32 = 1440;

const MINUTE_MS: i64 = 60_000;

/// A timer operation that does not fit the timer's state, or a bad piece or tempo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    #[error("no practice timer is running")]
    NotRunning,
    #[error("a practice timer is already running")]
    AlreadyRunning,
    #[error("the practice timer is not paused")]
    NotPaused,
    #[error("the practice timer is paused")]
    Paused,
    #[error("the practice timer has not been stopped")]
    NotStopped,
    #[error("the practice timer is stopped")]
    Stopped,
    #[error("a piece needs a title of 1 to {MAX_TITLE_CHARS} characters")]
    BadTitle,
    #[error("a tempo is {} to {} beats per minute", TEMPO_RANGE.start(), TEMPO_RANGE.end())]
    BadTempo,
}

/// The piece a segment is about: a repertoire item (its id, as a logbook piece's
/// `scoreId`) or a free title.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimerPiece {
    pub title: String,
    pub composer: Option<String>,
    /// The repertoire item's id, when the piece is one.
    pub piece_id: Option<String>,
}

impl TimerPiece {
    pub fn titled(title: impl Into<String>) -> Self {
        TimerPiece {
            title: title.into(),
            ..TimerPiece::default()
        }
    }

    /// Trimmed title and composer; an empty composer is none.
    fn normalised(&self) -> Result<TimerPiece, TimerError> {
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(TimerError::BadTitle);
        }
        let composer = self
            .composer
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| c.chars().take(MAX_TITLE_CHARS).collect());
        Ok(TimerPiece {
            title: title.to_owned(),
            composer,
            piece_id: self.piece_id.clone().filter(|id| !id.trim().is_empty()),
        })
    }
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerPhase {
    Running,
    Paused,
    /// Time is frozen; the session waits to be logged or discarded.
    Stopped,
}

/// One piece of a session (or the time on no piece: `piece` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerSegment {
    pub piece: Option<TimerPiece>,
    /// The metronome tempo last used on this piece (bpm).
    pub tempo: Option<i64>,
    /// Active time on this piece so far (pauses excluded).
    pub active_ms: i64,
}

/// The session as of `now_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerState {
    pub phase: TimerPhase,
    /// When the session started (ms since the epoch).
    pub started_at_ms: i64,
    /// When it was stopped (`Stopped` only).
    pub stopped_at_ms: Option<i64>,
    /// Active time in all (pauses excluded).
    pub elapsed_ms: i64,
    /// In the order the pieces were first practised.
    pub segments: Vec<TimerSegment>,
    /// The index in `segments` of the piece being practised.
    pub current: usize,
    /// The long-running reminder was shown.
    pub reminded: bool,
}

impl TimerState {
    /// The entry's duration: the elapsed time in whole minutes (rounded), 1 to
    /// [`MAX_ENTRY_MINUTES`].
    pub fn minutes(&self) -> u32 {
        let rounded = (self.elapsed_ms + MINUTE_MS / 2) / MINUTE_MS;
        u32::try_from(rounded.clamp(1, i64::from(MAX_ENTRY_MINUTES))).unwrap_or(1)
    }

    /// The pieces for the entry (`pieces[]` of PROTOCOL.md 1.1), in the order first
    /// practised: every titled segment with time or a tempo, with its tempo and, for a
    /// repertoire item, its id as `scoreId`.
    pub fn pieces(&self) -> Vec<PieceRef> {
        self.segments
            .iter()
            .filter(|s| s.active_ms > 0 || s.tempo.is_some())
            .filter_map(|s| {
                let piece = s.piece.as_ref()?;
                let mut out = PieceRef::new(piece.title.clone());
                out.composer.clone_from(&piece.composer);
                out.score_id.clone_from(&piece.piece_id);
                out.tempo = s.tempo;
                Some(out)
            })
            .collect()
    }
}

/// The stretch from `since` to `now`, never negative (the clock may have jumped back).
fn stretch(since: i64, now: i64) -> i64 {
    now.saturating_sub(since).max(0)
}

struct Row {
    started_at: i64,
    running_since: Option<i64>,
    stopped_at: Option<i64>,
    reminded: bool,
    current_seq: i64,
}

fn load_row(conn: &Connection) -> Result<Option<Row>> {
    Ok(conn
        .prepare_cached(
            "SELECT started_at, running_since, stopped_at, reminded, current_seq
             FROM timer WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok(Row {
                started_at: r.get(0)?,
                running_since: r.get(1)?,
                stopped_at: r.get(2)?,
                reminded: r.get(3)?,
                current_seq: r.get(4)?,
            })
        })
        .optional()?)
}

fn require(conn: &Connection) -> Result<Row> {
    load_row(conn)?.ok_or_else(|| TimerError::NotRunning.into())
}

/// Adds the running stretch up to `now` to the current segment and restarts the stretch
/// at `now` (no-op while paused or stopped).
fn fold_running(conn: &Connection, row: &Row, now: i64) -> Result<()> {
    if let Some(since) = row.running_since {
        conn.prepare_cached("UPDATE timer_segments SET active_ms = active_ms + ?1 WHERE seq = ?2")?
            .execute(params![stretch(since, now), row.current_seq])?;
        conn.prepare_cached("UPDATE timer SET running_since = ?1 WHERE id = 1")?
            .execute([now])?;
    }
    Ok(())
}

fn insert_segment(conn: &Connection, piece: Option<&TimerPiece>) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO timer_segments (title, composer, piece_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![
        piece.map(|p| p.title.as_str()),
        piece.and_then(|p| p.composer.as_deref()),
        piece.and_then(|p| p.piece_id.as_deref()),
    ])?;
    Ok(conn.last_insert_rowid())
}

/// The segment already practised for `piece` in this session: the same repertoire item,
/// or (for free titles) the same title and composer, ignoring case.
fn find_segment(conn: &Connection, piece: Option<&TimerPiece>) -> Result<Option<i64>> {
    let found = match piece {
        None => conn
            .prepare_cached("SELECT seq FROM timer_segments WHERE title IS NULL")?
            .query_row([], |r| r.get(0))
            .optional()?,
        Some(TimerPiece {
            piece_id: Some(id), ..
        }) => conn
            .prepare_cached("SELECT seq FROM timer_segments WHERE piece_id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?,
        Some(piece) => conn
            .prepare_cached(
                "SELECT seq FROM timer_segments
                 WHERE piece_id IS NULL AND legato_fold(title) = legato_fold(?1)
                   AND legato_fold(coalesce(composer, '')) = legato_fold(coalesce(?2, ''))",
            )?
            .query_row(params![piece.title, piece.composer], |r| r.get(0))
            .optional()?,
    };
    Ok(found)
}

fn read_state(conn: &Connection, now: i64) -> Result<Option<TimerState>> {
    let Some(row) = load_row(conn)? else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT seq, title, composer, piece_id, tempo, active_ms FROM timer_segments
         ORDER BY seq",
    )?;
    let mut current = 0;
    let mut segments = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let title: Option<String> = r.get(1)?;
        let mut active_ms: i64 = r.get(5)?;
        if seq == row.current_seq {
            current = segments.len();
            if let Some(since) = row.running_since {
                active_ms += stretch(since, now);
            }
        }
        segments.push(TimerSegment {
            piece: title.map(|title| TimerPiece {
                title,
                composer: r.get(2).ok().flatten(),
                piece_id: r.get(3).ok().flatten(),
            }),
            tempo: r.get(4)?,
            active_ms,
        });
    }
    let phase = match (row.stopped_at, row.running_since) {
        (Some(_), _) => TimerPhase::Stopped,
        (None, Some(_)) => TimerPhase::Running,
        (None, None) => TimerPhase::Paused,
    };
    Ok(Some(TimerState {
        phase,
        started_at_ms: row.started_at,
        stopped_at_ms: row.stopped_at,
        elapsed_ms: segments.iter().map(|s| s.active_ms).sum(),
        segments,
        current,
        reminded: row.reminded,
    }))
}

fn state_after(conn: &Connection, now: i64) -> Result<TimerState> {
    read_state(conn, now)?.ok_or_else(|| StoreError::Corrupt("the timer vanished".into()))
}

fn clear(conn: &Connection) -> Result<()> {
    conn.execute_batch("DELETE FROM timer; DELETE FROM timer_segments;")?;
    Ok(())
}

impl Store {
    /// The session as of `now_ms`, if there is one.
    pub fn timer(&self, now_ms: i64) -> Result<Option<TimerState>> {
        read_state(&self.conn, now_ms)
    }

    /// Starts a session at `now_ms`, on `piece` (or on none).
    /// [`TimerError::AlreadyRunning`] while another session exists (stopped ones included:
    /// log or discard it first).
    pub fn start_timer(&mut self, now_ms: i64, piece: Option<&TimerPiece>) -> Result<TimerState> {
        let piece = piece.map(TimerPiece::normalised).transpose()?;
        let tx = write_tx(&mut self.conn)?;
        if load_row(&tx)?.is_some() {
            return Err(TimerError::AlreadyRunning.into());
        }
        tx.execute("DELETE FROM timer_segments", [])?;
        let seq = insert_segment(&tx, piece.as_ref())?;
        tx.prepare_cached(
            "INSERT INTO timer (id, started_at, running_since, current_seq) VALUES (1, ?1, ?1, ?2)",
        )?
        .execute(params![now_ms, seq])?;
        let state = state_after(&tx, now_ms)?;
        tx.commit()?;
        Ok(state)
    }

    /// Pauses the running session: time stops counting.
    pub fn pause_timer(&mut self, now_ms: i64) -> Result<TimerState> {
        let tx = write_tx(&mut self.conn)?;
        let row = require(&tx)?;
        if row.stopped_at.is_some() {
            return Err(TimerError::Stopped.into());
        }
        if row.running_since.is_none() {
            return Err(TimerError::Paused.into());
        }
        fold_running(&tx, &row, now_ms)?;
        tx.execute("UPDATE timer SET running_since = NULL WHERE id = 1", [])?;
        let state = state_after(&tx, now_ms)?;
        tx.commit()?;
        Ok(state)
    }

    /// Resumes a paused session.
    pub fn resume_timer(&mut self, now_ms: i64) -> Result<TimerState> {
        let tx = write_tx(&mut self.conn)?;
        let row = require(&tx)?;
        if row.stopped_at.is_some() {
            return Err(TimerError::Stopped.into());
        }
        if row.running_since.is_some() {
            return Err(TimerError::NotPaused.into());
        }
        tx.execute("UPDATE timer SET running_since = ?1 WHERE id = 1", [now_ms])?;
        let state = state_after(&tx, now_ms)?;
        tx.commit()?;
        Ok(state)
    }

    /// From `now_ms` on, the time counts for `piece` (or for no piece). A piece practised
    /// earlier in the session continues its own segment (same repertoire id, or same title
    /// and composer ignoring case); a segment left with no time and no tempo is dropped.
    pub fn switch_timer_piece(
        &mut self,
        now_ms: i64,
        piece: Option<&TimerPiece>,
    ) -> Result<TimerState> {
        let piece = piece.map(TimerPiece::normalised).transpose()?;
        let tx = write_tx(&mut self.conn)?;
        let row = require(&tx)?;
        if row.stopped_at.is_some() {
            return Err(TimerError::Stopped.into());
        }
        fold_running(&tx, &row, now_ms)?;
        let next = match find_segment(&tx, piece.as_ref())? {
            Some(seq) => seq,
            None => insert_segment(&tx, piece.as_ref())?,
        };
        if next != row.current_seq {
            tx.prepare_cached(
                "DELETE FROM timer_segments WHERE seq = ?1 AND active_ms = 0 AND tempo IS NULL",
            )?
            .execute([row.current_seq])?;
            tx.prepare_cached("UPDATE timer SET current_seq = ?1 WHERE id = 1")?
                .execute([next])?;
        }
        let state = state_after(&tx, now_ms)?;
        tx.commit()?;
        Ok(state)
    }

    /// Records `bpm` as the tempo of the piece being practised (the last one set wins).
    pub fn set_timer_tempo(&mut self, now_ms: i64, bpm: i64) -> Result<TimerState> {
        if !TEMPO_RANGE.contains(&bpm) {
            return Err(TimerError::BadTempo.into());
        }
        let tx = write_tx(&mut self.conn)?;
        let row = require(&tx)?;
        if row.stopped_at.is_some() {
            return Err(TimerError::Stopped.into());
        }
        tx.prepare_cached("UPDATE timer_segments SET tempo = ?1 WHERE seq = ?2")?
            .execute(params![bpm, row.current_seq])?;
        let state = state_after(&tx, now_ms)?;
        tx.commit()?;
        Ok(state)
    }

    /// Stops the session at `now_ms` (from running or paused): time is frozen until the
    /// session is logged or discarded.
    pub fn stop_timer(&mut self, now_ms: i64) -> Result<TimerState> {
        let tx = write_tx(&mut self.conn)?;
        let row = require(&tx)?;
        if row.stopped_at.is_some() {
            return Err(TimerError::Stopped.into());
        }
        fold_running(&tx, &row, now_ms)?;
        tx.execute(
            "UPDATE timer SET running_since = NULL, stopped_at = ?1 WHERE id = 1",
            [now_ms],
        )?;
        let state = state_after(&tx, now_ms)?;
        tx.commit()?;
        Ok(state)
    }

    /// Keeps only the first `keep_ms` of a stopped session's active time: the time cut is
    /// taken from the last segments first (the end of the session, where a forgotten timer
    /// ran on); segments left with no time lose their place unless they carry a tempo.
    /// Keeping as much as there is, or more, changes nothing.
    pub fn trim_timer(&mut self, keep_ms: i64) -> Result<TimerState> {
        let tx = write_tx(&mut self.conn)?;
        let row = require(&tx)?;
        let Some(stopped_at) = row.stopped_at else {
            return Err(TimerError::NotStopped.into());
        };
        let segments: Vec<(i64, i64)> = tx
            .prepare_cached("SELECT seq, active_ms FROM timer_segments ORDER BY seq")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut left = keep_ms.max(0);
        for (seq, active) in segments {
            let kept = active.min(left);
            left -= kept;
            if kept != active {
                tx.prepare_cached("UPDATE timer_segments SET active_ms = ?1 WHERE seq = ?2")?
                    .execute(params![kept, seq])?;
            }
        }
        tx.execute(
            "DELETE FROM timer_segments WHERE active_ms = 0 AND tempo IS NULL AND seq <> ?1",
            [row.current_seq],
        )?;
        let state = state_after(&tx, stopped_at)?;
        tx.commit()?;
        Ok(state)
    }

    /// Marks the long-running reminder as shown, once: true when the session is running
    /// or paused, has `threshold_ms` of active time or more at `now_ms`, and was not
    /// reminded yet. The caller then shows the reminder.
    pub fn timer_reminder_due(&mut self, now_ms: i64, threshold_ms: i64) -> Result<bool> {
        let tx = write_tx(&mut self.conn)?;
        let Some(state) = read_state(&tx, now_ms)? else {
            return Ok(false);
        };
        if state.reminded || state.phase == TimerPhase::Stopped || state.elapsed_ms < threshold_ms {
            return Ok(false);
        }
        tx.execute("UPDATE timer SET reminded = 1 WHERE id = 1", [])?;
        tx.commit()?;
        Ok(true)
    }

    /// Saves `entry` (the session's logbook entry, as the user completed it) and ends the
    /// stopped session. The entry is one transaction and the session's end the next, in
    /// one call on the store thread: a crash between the two (microseconds) would leave
    /// the stopped session offered again, never the entry lost.
    pub fn finish_timer(&mut self, entry: &LogbookEntry, now_ms: i64) -> Result<()> {
        let row = require(&self.conn)?;
        if row.stopped_at.is_none() {
            return Err(TimerError::NotStopped.into());
        }
        self.save(entry, now_ms)?;
        clear(&self.conn)
    }

    /// Ends the session without logging it.
    pub fn discard_timer(&mut self) -> Result<()> {
        let tx = write_tx(&mut self.conn)?;
        require(&tx)?;
        clear(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// The repertoire items the timer offers as pieces (not deleted, not `dropped`), by
    /// title: `(id, title, composer)`.
    pub fn timer_piece_choices(&self) -> Result<Vec<TimerPiece>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entity_id, json_extract(state, '$.title'), json_extract(state, '$.composer')
             FROM entities
             WHERE entity_type = 'repertoire' AND deleted = 0
               AND coalesce(json_extract(state, '$.status'), '') <> 'dropped'
               AND json_type(state, '$.title') = 'text'
             ORDER BY legato_fold(json_extract(state, '$.title')), entity_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TimerPiece {
                piece_id: Some(r.get(0)?),
                title: r.get(1)?,
                composer: r.get::<_, Option<String>>(2).ok().flatten(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    const T0: i64 = 1_764_095_400_000;
    const MIN: i64 = MINUTE_MS;

    fn store() -> Store {
        Store::open_in_memory().unwrap()
    }

    fn piece(title: &str) -> TimerPiece {
        TimerPiece::titled(title)
    }

    fn times(state: &TimerState) -> Vec<(Option<&str>, i64)> {
        state
            .segments
            .iter()
            .map(|s| (s.piece.as_ref().map(|p| p.title.as_str()), s.active_ms))
            .collect()
    }

    #[test]
    fn pauses_do_not_count() {
        let mut s = store();
        s.start_timer(T0, Some(&piece("Etude"))).unwrap();
        assert_eq!(
            s.timer(T0 + 10 * MIN).unwrap().unwrap().elapsed_ms,
            10 * MIN
        );
        let paused = s.pause_timer(T0 + 10 * MIN).unwrap();
        assert_eq!(paused.phase, TimerPhase::Paused);
        // Paused: the clock moves, the timer does not.
        assert_eq!(
            s.timer(T0 + 40 * MIN).unwrap().unwrap().elapsed_ms,
            10 * MIN
        );
        s.resume_timer(T0 + 40 * MIN).unwrap();
        s.pause_timer(T0 + 45 * MIN).unwrap();
        s.resume_timer(T0 + 50 * MIN).unwrap();
        let stopped = s.stop_timer(T0 + 52 * MIN).unwrap();
        assert_eq!(stopped.phase, TimerPhase::Stopped);
        assert_eq!(stopped.elapsed_ms, 17 * MIN);
        assert_eq!(stopped.minutes(), 17);
        assert_eq!(stopped.started_at_ms, T0);
        assert_eq!(stopped.stopped_at_ms, Some(T0 + 52 * MIN));
        // Stopped: frozen.
        assert_eq!(
            s.timer(T0 + 90 * MIN).unwrap().unwrap().elapsed_ms,
            17 * MIN
        );
    }

    #[test]
    fn wrong_steps_are_refused_and_change_nothing() {
        let mut s = store();
        assert_eq!(
            s.pause_timer(T0).unwrap_err().to_string(),
            TimerError::NotRunning.to_string()
        );
        assert!(matches!(
            s.stop_timer(T0),
            Err(StoreError::Timer(TimerError::NotRunning))
        ));
        s.start_timer(T0, None).unwrap();
        assert!(matches!(
            s.start_timer(T0 + MIN, None),
            Err(StoreError::Timer(TimerError::AlreadyRunning))
        ));
        assert!(matches!(
            s.resume_timer(T0 + MIN),
            Err(StoreError::Timer(TimerError::NotPaused))
        ));
        s.pause_timer(T0 + MIN).unwrap();
        assert!(matches!(
            s.pause_timer(T0 + 2 * MIN),
            Err(StoreError::Timer(TimerError::Paused))
        ));
        assert!(matches!(
            s.trim_timer(MIN),
            Err(StoreError::Timer(TimerError::NotStopped))
        ));
        s.stop_timer(T0 + 3 * MIN).unwrap();
        for refused in [
            s.resume_timer(T0 + 4 * MIN),
            s.pause_timer(T0 + 4 * MIN),
            s.stop_timer(T0 + 4 * MIN),
            s.switch_timer_piece(T0 + 4 * MIN, None),
            s.set_timer_tempo(T0 + 4 * MIN, 80),
            s.start_timer(T0 + 4 * MIN, None),
        ] {
            assert!(matches!(
                refused,
                Err(StoreError::Timer(
                    TimerError::Stopped | TimerError::AlreadyRunning
                ))
            ));
        }
        assert_eq!(s.timer(T0 + 9 * MIN).unwrap().unwrap().elapsed_ms, MIN);
        assert!(!StoreError::Timer(TimerError::Stopped).is_retryable());
    }

    #[test]
    fn switching_pieces_splits_the_time_and_comes_back_to_a_piece() {
        let mut s = store();
        s.start_timer(T0, None).unwrap();
        // No time on "no piece" yet: that segment gives its place to the piece.
        s.switch_timer_piece(T0, Some(&piece("Scales"))).unwrap();
        s.switch_timer_piece(T0 + 10 * MIN, Some(&piece("Sonata")))
            .unwrap();
        s.pause_timer(T0 + 25 * MIN).unwrap();
        // Switching while paused counts nothing for either.
        s.switch_timer_piece(T0 + 30 * MIN, Some(&piece("  scales ")))
            .unwrap();
        s.resume_timer(T0 + 35 * MIN).unwrap();
        let state = s.timer(T0 + 40 * MIN).unwrap().unwrap();
        assert_eq!(
            times(&state),
            vec![(Some("Scales"), 15 * MIN), (Some("Sonata"), 15 * MIN)]
        );
        assert_eq!(state.current, 0, "back on Scales, its own segment");
        assert_eq!(state.elapsed_ms, 30 * MIN);
        // Time on no piece is kept, but not listed as a piece.
        s.switch_timer_piece(T0 + 40 * MIN, None).unwrap();
        let stopped = s.stop_timer(T0 + 45 * MIN).unwrap();
        assert_eq!(stopped.elapsed_ms, 35 * MIN);
        let titles: Vec<_> = stopped.pieces().into_iter().map(|p| p.title).collect();
        assert_eq!(titles, ["Scales", "Sonata"]);
    }

    #[test]
    fn a_repertoire_piece_is_one_segment_by_its_id() {
        let mut s = store();
        let item = TimerPiece {
            title: "Clair de lune".into(),
            composer: Some("Debussy".into()),
            piece_id: Some("rep-1".into()),
        };
        s.start_timer(T0, Some(&item)).unwrap();
        s.switch_timer_piece(T0 + MIN, Some(&piece("Clair de lune")))
            .unwrap();
        // Renamed since, same id: the same segment.
        let renamed = TimerPiece {
            title: "Suite bergamasque: Clair de lune".into(),
            ..item.clone()
        };
        let state = s.switch_timer_piece(T0 + 2 * MIN, Some(&renamed)).unwrap();
        assert_eq!(state.segments.len(), 2);
        assert_eq!(state.current, 0);
        let stopped = s.stop_timer(T0 + 3 * MIN).unwrap();
        let pieces = stopped.pieces();
        assert_eq!(pieces[0].score_id.as_deref(), Some("rep-1"));
        assert_eq!(pieces[0].composer.as_deref(), Some("Debussy"));
        assert_eq!(pieces[1].score_id, None);
    }

    #[test]
    fn tempo_is_recorded_per_piece_last_one_wins() {
        let mut s = store();
        s.start_timer(T0, Some(&piece("Etude"))).unwrap();
        s.set_timer_tempo(T0 + MIN, 60).unwrap();
        s.set_timer_tempo(T0 + 2 * MIN, 72).unwrap();
        s.switch_timer_piece(T0 + 3 * MIN, Some(&piece("Sonata")))
            .unwrap();
        s.switch_timer_piece(T0 + 4 * MIN, Some(&piece("Prelude")))
            .unwrap();
        s.set_timer_tempo(T0 + 4 * MIN, 96).unwrap();
        s.pause_timer(T0 + 4 * MIN).unwrap();
        // Paused, the metronome still records.
        s.set_timer_tempo(T0 + 5 * MIN, 100).unwrap();
        let pieces = s.stop_timer(T0 + 6 * MIN).unwrap().pieces();
        let tempos: Vec<_> = pieces.iter().map(|p| (p.title.as_str(), p.tempo)).collect();
        // Prelude had no running time but a tempo: it is listed.
        assert_eq!(
            tempos,
            [
                ("Etude", Some(72)),
                ("Sonata", None),
                ("Prelude", Some(100))
            ]
        );
        assert!(matches!(
            s.set_timer_tempo(T0, 19),
            Err(StoreError::Timer(TimerError::BadTempo))
        ));
        assert!(matches!(
            s.set_timer_tempo(T0, 301),
            Err(StoreError::Timer(TimerError::BadTempo))
        ));
    }

    #[test]
    fn tempo_limits_are_20_and_300() {
        let mut s = store();
        s.start_timer(T0, Some(&piece("Etude"))).unwrap();
        assert!(s.set_timer_tempo(T0, 20).is_ok());
        assert!(s.set_timer_tempo(T0, 300).is_ok());
        assert!(s.set_timer_tempo(T0, 19).is_err());
        assert!(s.set_timer_tempo(T0, 301).is_err());
    }

    #[test]
    fn bad_titles_are_refused() {
        let mut s = store();
        assert!(matches!(
            s.start_timer(T0, Some(&piece("   "))),
            Err(StoreError::Timer(TimerError::BadTitle))
        ));
        let long = "x".repeat(MAX_TITLE_CHARS + 1);
        assert!(s.start_timer(T0, Some(&piece(&long))).is_err());
        let longest = "x".repeat(MAX_TITLE_CHARS);
        assert!(s.start_timer(T0, Some(&piece(&longest))).is_ok());
    }

    #[test]
    fn a_clock_jumping_back_never_makes_time_negative() {
        let mut s = store();
        s.start_timer(T0, None).unwrap();
        assert_eq!(s.timer(T0 - 5 * MIN).unwrap().unwrap().elapsed_ms, 0);
        s.pause_timer(T0 - 5 * MIN).unwrap();
        s.resume_timer(T0 - 5 * MIN).unwrap();
        let stopped = s.stop_timer(T0 + 5 * MIN).unwrap();
        assert_eq!(stopped.elapsed_ms, 10 * MIN);
    }

    #[test]
    fn trimming_cuts_from_the_end() {
        let mut s = store();
        s.start_timer(T0, Some(&piece("Scales"))).unwrap();
        s.switch_timer_piece(T0 + 20 * MIN, Some(&piece("Sonata")))
            .unwrap();
        s.switch_timer_piece(T0 + 30 * MIN, Some(&piece("Prelude")))
            .unwrap();
        // Forgotten: it ran three hours on the Prelude.
        let stopped = s.stop_timer(T0 + 210 * MIN).unwrap();
        assert_eq!(stopped.minutes(), 210);
        let trimmed = s.trim_timer(25 * MIN).unwrap();
        assert_eq!(trimmed.elapsed_ms, 25 * MIN);
        assert_eq!(trimmed.minutes(), 25);
        assert_eq!(
            times(&trimmed),
            vec![
                (Some("Scales"), 20 * MIN),
                (Some("Sonata"), 5 * MIN),
                (Some("Prelude"), 0)
            ],
            "the current piece keeps its place"
        );
        assert_eq!(
            trimmed.pieces().len(),
            2,
            "a piece without time is not logged"
        );
        // Keeping more than there is changes nothing; started and stopped stay.
        let again = s.trim_timer(500 * MIN).unwrap();
        assert_eq!(again.elapsed_ms, 25 * MIN);
        assert_eq!(again.started_at_ms, T0);
        assert_eq!(again.phase, TimerPhase::Stopped);
    }

    #[test]
    fn minutes_round_and_stay_in_the_entry_range() {
        let at = |elapsed_ms| TimerState {
            phase: TimerPhase::Stopped,
            started_at_ms: T0,
            stopped_at_ms: Some(T0),
            elapsed_ms,
            segments: vec![],
            current: 0,
            reminded: false,
        };
        assert_eq!(at(0).minutes(), 1);
        assert_eq!(at(89_999).minutes(), 1);
        assert_eq!(at(90_000).minutes(), 2);
        assert_eq!(at(1440 * MIN).minutes(), 1440);
        assert_eq!(at(3000 * MIN).minutes(), 1440);
    }

    #[test]
    fn the_reminder_is_due_once_after_the_threshold() {
        let mut s = store();
        assert!(!s.timer_reminder_due(T0, 120 * MIN).unwrap());
        s.start_timer(T0, None).unwrap();
        assert!(!s.timer_reminder_due(T0 + 119 * MIN, 120 * MIN).unwrap());
        assert!(s.timer_reminder_due(T0 + 120 * MIN, 120 * MIN).unwrap());
        assert!(!s.timer_reminder_due(T0 + 121 * MIN, 120 * MIN).unwrap());
        assert!(s.timer(T0).unwrap().unwrap().reminded);
        // Pauses do not count towards it.
        let mut s = store();
        s.start_timer(T0, None).unwrap();
        s.pause_timer(T0 + 60 * MIN).unwrap();
        assert!(!s.timer_reminder_due(T0 + 300 * MIN, 120 * MIN).unwrap());
    }

    #[test]
    fn finishing_saves_the_entry_and_ends_the_session() {
        let mut s = store();
        s.start_timer(T0, Some(&piece("Etude"))).unwrap();
        s.set_timer_tempo(T0, 88).unwrap();
        let id = legato_protocol::EntityId::new("e-timer").unwrap();
        let entry = LogbookEntry::new(
            id.clone(),
            chrono::DateTime::from_timestamp_millis(T0).unwrap(),
            20,
        );
        assert!(matches!(
            s.finish_timer(&entry, T0),
            Err(StoreError::Timer(TimerError::NotStopped))
        ));
        let stopped = s.stop_timer(T0 + 20 * MIN).unwrap();
        let mut entry = entry;
        entry.pieces = stopped.pieces();
        s.finish_timer(&entry, T0 + 21 * MIN).unwrap();
        assert_eq!(s.timer(T0).unwrap(), None);
        let saved: LogbookEntry = s.load(&id).unwrap().unwrap();
        assert_eq!(saved.pieces[0].tempo, Some(88));
        // The session is gone: a new one starts clean.
        let next = s.start_timer(T0 + 30 * MIN, None).unwrap();
        assert_eq!(next.segments.len(), 1);
        assert_eq!(next.elapsed_ms, 0);
        s.discard_timer().unwrap();
        assert_eq!(s.timer(T0).unwrap(), None);
        assert!(matches!(
            s.discard_timer(),
            Err(StoreError::Timer(TimerError::NotRunning))
        ));
    }

    #[test]
    fn the_timer_is_never_queued_for_sync() {
        let mut s = store();
        s.start_timer(T0, Some(&piece("Etude"))).unwrap();
        s.set_timer_tempo(T0, 90).unwrap();
        s.stop_timer(T0 + MIN).unwrap();
        let queued: i64 = s
            .conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(queued, 0);
    }

    #[test]
    fn a_session_survives_closing_and_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legato.db");
        {
            let mut s = Store::open(&path).unwrap();
            s.start_timer(T0, Some(&piece("Etude"))).unwrap();
            s.set_timer_tempo(T0 + MIN, 84).unwrap();
            s.switch_timer_piece(T0 + 5 * MIN, Some(&piece("Sonata")))
                .unwrap();
            // Closed while running, as a crash would leave it.
        }
        let mut s = Store::open(&path).unwrap();
        let state = s.timer(T0 + 12 * MIN).unwrap().unwrap();
        assert_eq!(state.phase, TimerPhase::Running);
        assert_eq!(
            state.elapsed_ms,
            12 * MIN,
            "the time kept running meanwhile"
        );
        assert_eq!(
            times(&state),
            vec![(Some("Etude"), 5 * MIN), (Some("Sonata"), 7 * MIN)]
        );
        assert_eq!(state.current, 1);
        let stopped = s.stop_timer(T0 + 15 * MIN).unwrap();
        assert_eq!(stopped.pieces()[0].tempo, Some(84));
    }

    #[test]
    fn repertoire_items_are_offered_by_title_without_dropped_or_deleted_ones() {
        use legato_protocol::EntityType;
        use serde_json::json;
        let mut s = store();
        let add = |s: &mut Store, value: serde_json::Value| {
            let serde_json::Value::Object(fields) = value else {
                unreachable!()
            };
            s.create(EntityType::Repertoire, fields, T0)
                .unwrap()
                .entity_id
        };
        add(
            &mut s,
            json!({"title": "b Sonata", "composer": "Mozart", "status": "learning"}),
        );
        let gone = add(&mut s, json!({"title": "a Gone", "status": "learning"}));
        add(&mut s, json!({"title": "c Dropped", "status": "dropped"}));
        add(&mut s, json!({"title": "A Etude"}));
        s.delete(EntityType::Repertoire, &gone, T0).unwrap();
        let offered = s.timer_piece_choices().unwrap();
        let titles: Vec<_> = offered.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["A Etude", "b Sonata"]);
        assert_eq!(offered[1].composer.as_deref(), Some("Mozart"));
        assert!(offered.iter().all(|p| p.piece_id.is_some()));
    }
}
