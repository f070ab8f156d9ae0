//! What overlapped an application write that waited long: a timeline of the backfill's batches (from the
//! children's tracing), kills and child starts, put beside the [`Probe`](crate::items::Probe)'s slow writes
//! and its samples of the server's sessions. Instants are wall-clock microseconds, so the test process
//! and its children share one clock.

use std::fmt::Write as _;

use crate::items::{SlowWrite, Waits};

/// Now, in microseconds since the Unix epoch (comparable across processes on one machine).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What happened, from when to when (a point event has `from == to`).
#[derive(Debug, Clone)]
pub struct Event {
    /// Start, µs since the epoch.
    pub from: u64,
    /// End, µs since the epoch.
    pub to: u64,
    /// What it was.
    pub kind: Kind,
}

/// The kinds of events on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// One batch, from its first lock to the end of its commit (a child's `batch` tracing event).
    Batch,
    /// A child's start-up: from its spawn to its first batch (or its end).
    Startup,
    /// A child killed with SIGKILL (from the kill to the parent's `wait`).
    Kill,
    /// The test's own check after a kill (it reads the whole table: on SQLite a reader that holds off
    /// a writer's commit).
    Check,
    /// A migration a child applied (the one after the backfill), from its `done ... took_ms=` event.
    Migration,
    /// Another line of a child's tracing (resumed, started, done, a retried lock timeout).
    Log(String),
}

/// The events of one measured run.
#[derive(Debug, Default)]
pub struct Timeline {
    events: Vec<Event>,
}

impl Timeline {
    /// Adds an event.
    pub fn push(&mut self, from: u64, to: u64, kind: Kind) {
        self.events.push(Event { from, to, kind });
    }

    /// Reads one line of a child's tracing output (`T <µs> <spans>: <message> <fields>`, the worker's
    /// format): a `batch` event (the one with `held_us=`) becomes a batch from `held_us` before it to
    /// it, other events a point.
    /// Returns `false` for lines of other shapes.
    pub fn child_line(&mut self, line: &str) -> bool {
        let Some(rest) = line.strip_prefix("T ") else {
            return false;
        };
        let Some((at, text)) = rest.split_once(' ') else {
            return false;
        };
        let Ok(at) = at.parse::<u64>() else {
            return false;
        };
        let text = text.trim();
        if let Some(held) = field(text, "held_us") {
            self.push(at.saturating_sub(held), at, Kind::Batch);
        } else if let (true, Some(took)) = (text.contains(" done version="), field(text, "took_ms"))
        {
            self.push(at.saturating_sub(took * 1000), at, Kind::Migration);
        } else {
            self.push(at, at, Kind::Log(text.to_string()));
        }
        true
    }

    /// The start of the last batch read, if any.
    pub fn last_batch_start(&self) -> Option<u64> {
        self.batches().last().map(|e| e.from)
    }

    /// The batches' longest lock hold, in µs.
    pub fn longest_batch_us(&self) -> u64 {
        self.batches().map(|e| e.to - e.from).max().unwrap_or(0)
    }

    fn batches(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| e.kind == Kind::Batch)
    }

    /// The slow writes of `waits` counted by the first of what they overlapped (the migration after
    /// the backfill, the test's check, a kill, a child's start-up, another logged step of a child,
    /// batches only); then for the slowest write of each kind what overlapped it (batches, their total
    /// hold and the longest free gap between them, kills, start-ups, log lines, the server's sessions
    /// sampled).
    pub fn explain(&self, waits: &Waits) -> String {
        let mut out = String::new();
        let mut counts = [0usize; 6];
        let mut longest = [0u64; 6];
        let mut slowest: [Option<&SlowWrite>; 6] = [None; 6];
        for w in &waits.slow {
            let o = self.overlap(w);
            let what = [o.migrations, o.checks, o.kills, o.startups, o.logs.len()];
            let i = what.iter().position(|n| *n > 0).unwrap_or(5);
            counts[i] += 1;
            if w.end - w.start > longest[i] {
                longest[i] = w.end - w.start;
                slowest[i] = Some(w);
            }
        }
        let _ = write!(
            out,
            "  {} writes over {} ms, by the first of what they overlapped (count, longest ms):",
            waits.slow.len(),
            crate::items::SLOW.as_millis(),
        );
        let names = [
            "the migration after the backfill",
            "the test's check",
            "a kill",
            "a child's start-up",
            "a child's logged step",
            "batches only",
        ];
        for (i, name) in names.iter().enumerate() {
            let _ = write!(
                out,
                " {name} {} ({:.0})",
                counts[i],
                longest[i] as f64 / 1000.0
            );
        }
        let _ = writeln!(out);
        for w in slowest.into_iter().flatten() {
            let o = self.overlap(w);
            let _ = writeln!(
                out,
                "  write waited {:.1} ms ({} busy-handler calls): {} batches holding the lock {:.1} ms in all (longest {:.1} ms), longest free gap {:.1} ms, {} migrations, {} checks, {} kills, {} start-ups",
                (w.end - w.start) as f64 / 1000.0,
                w.busy_calls,
                o.batches,
                o.held as f64 / 1000.0,
                o.longest as f64 / 1000.0,
                o.gap as f64 / 1000.0,
                o.migrations,
                o.checks,
                o.kills,
                o.startups
            );
            for log in &o.logs {
                let _ = writeln!(out, "    child: {log}");
            }
            let samples: Vec<_> = waits
                .samples
                .iter()
                .filter(|s| s.at >= w.start && s.at <= w.end)
                .collect();
            // The first and the last sample of the wait are enough to see who held what.
            let shown = [samples.first(), samples.last()];
            for (i, s) in shown.into_iter().flatten().enumerate() {
                if i == 1 && samples.len() == 1 {
                    break;
                }
                let _ = writeln!(
                    out,
                    "    sessions at +{:.0} ms:",
                    (s.at - w.start) as f64 / 1000.0
                );
                for row in &s.rows {
                    let _ = writeln!(out, "      {row}");
                }
            }
        }
        out
    }

    fn overlap(&self, w: &SlowWrite) -> Overlap {
        let inside = |e: &&Event| e.to >= w.start && e.from <= w.end;
        let mut o = Overlap::default();
        let mut free_from = w.start;
        let mut batches: Vec<&Event> = self.batches().filter(inside).collect();
        batches.sort_by_key(|e| e.from);
        for b in batches {
            o.batches += 1;
            o.held += b.to.min(w.end) - b.from.max(w.start);
            o.longest = o.longest.max(b.to - b.from);
            o.gap = o.gap.max(b.from.saturating_sub(free_from));
            free_from = free_from.max(b.to);
        }
        o.gap = o.gap.max(w.end.saturating_sub(free_from));
        for e in self.events.iter().filter(inside) {
            match &e.kind {
                Kind::Kill => o.kills += 1,
                Kind::Check => o.checks += 1,
                Kind::Migration => o.migrations += 1,
                Kind::Startup => o.startups += 1,
                Kind::Log(text) => o.logs.push(format!(
                    "+{:.0} ms {}",
                    (e.from as f64 - w.start as f64) / 1000.0,
                    text
                )),
                Kind::Batch => {}
            }
        }
        o
    }
}

#[derive(Default)]
struct Overlap {
    batches: usize,
    held: u64,
    longest: u64,
    gap: u64,
    kills: usize,
    checks: usize,
    migrations: usize,
    startups: usize,
    logs: Vec<String>,
}

/// The integer value of `name=` in a tracing line.
fn field(text: &str, name: &str) -> Option<u64> {
    text.split_whitespace()
        .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_explained_by_the_batches_and_kills_it_overlapped() {
        let mut t = Timeline::default();
        assert!(t.child_line(
            "T 1000 batch version=1 from=None to=10 rows=9 held_us=400 waited_us=0 size=10"
        ));
        assert!(t.child_line("T 2500 batch version=1 held_us=500"));
        assert!(t.child_line("T 2600 backfill resumed version=1"));
        assert!(t.child_line("T 9000 boot: done version=2 took_ms=2 direction=UP"));
        assert!(!t.child_line("PROGRESS 9 400"));
        t.push(3000, 3100, Kind::Kill);
        assert_eq!(t.longest_batch_us(), 500);
        let w = SlowWrite {
            start: 700,
            end: 3500,
            busy_calls: 4,
        };
        let o = t.overlap(&w);
        assert_eq!((o.batches, o.held, o.longest), (2, 300 + 500, 500));
        assert_eq!(o.gap, 1000, "from 1000 to 2000 and from 2500 to the end");
        assert_eq!((o.kills, o.checks, o.startups, o.logs.len()), (1, 0, 0, 1));
        assert_eq!(o.migrations, 0, "the migration ran from 7000 to 9000");
        let later = SlowWrite {
            start: 6500,
            end: 7500,
            busy_calls: 0,
        };
        assert_eq!(t.overlap(&later).migrations, 1);
    }
}
