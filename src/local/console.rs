//! What the local run shows: each event as it is emitted, a line per step, and a progress
//! bar per pending task read from the simulator's state.

use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::Local;
use crate::adapters::memory::MemorySink;
use crate::outcome::{Outcome, OutcomeEvent};
use crate::sim::RunningSim;

/// Lines above the progress bars on a terminal, plain lines otherwise.
pub(super) struct Console {
    bars: MultiProgress,
    progress: bool,
}

impl Console {
    pub(super) fn new(progress: bool) -> Self {
        let bars = MultiProgress::new();
        if !progress {
            bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        Console { bars, progress }
    }

    pub(super) fn say(&self, line: String) {
        if self.progress {
            let _ = self.bars.println(line);
        } else {
            println!("{line}");
        }
    }

    /// Prints every event as it is emitted, until the task is aborted.
    pub(super) fn print_events(&self, sink: &Arc<MemorySink>) -> tokio::task::JoinHandle<()> {
        let mut rx = sink.subscribe();
        let (bars, progress) = (self.bars.clone(), self.progress);
        tokio::spawn(async move {
            while let Ok(e) = rx.recv().await {
                let line = describe(&e);
                if progress {
                    bars.println(line).ok();
                } else {
                    println!("{line}");
                }
            }
        })
    }

    /// Progress per pending task: the share of its backups gone, from the simulator's state.
    pub(super) fn task_bars(&self, local: &Local) -> Vec<(ProgressBar, Vec<String>)> {
        let tasks: Vec<(String, Vec<String>)> = local
            .queue
            .bodies()
            .iter()
            .filter_map(|b| serde_json::from_str::<crate::task::PendingTask>(b).ok())
            .map(|t| {
                (
                    t.task_id.clone(),
                    t.checkpoint_items
                        .clone()
                        .or_else(|| t.backup_ids.clone())
                        .unwrap_or_else(|| demo_items(&local.sim, t.checkpoint())),
                )
            })
            .collect();
        let style = ProgressStyle::with_template("{prefix:>38} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> ");
        tasks
            .iter()
            .map(|(id, items)| {
                let pb = self.bars.add(ProgressBar::new(items.len() as u64));
                pb.set_style(style.clone());
                pb.set_prefix(id.clone());
                (pb, items.clone())
            })
            .collect()
    }
}

pub(super) fn describe(e: &OutcomeEvent) -> String {
    if let Some(p) = &e.plan {
        return format!(
            "event  {:<36} {:<10} selection: {} to delete, {} kept{}",
            e.outcome.detail_type(),
            e.task_id,
            p.counts.to_delete,
            p.counts.kept,
            if p.dry_run { " (dry run)" } else { "" }
        );
    }
    let what = match (&e.checkpoint_items, &e.backup_ids) {
        (Some(items), _) => format!("{} ({} items)", e.checkpoint_id.as_deref().unwrap_or("?"), items.len()),
        (None, Some(b)) => format!(
            "cbr {}({} backups)",
            e.checkpoint_id.as_deref().map(|c| format!("{c} ")).unwrap_or_default(),
            b.len()
        ),
        (None, None) => e.checkpoint_id.clone().unwrap_or_else(|| "?".into()),
    };
    let extra = match (&e.error, e.elapsed_seconds) {
        (Some(err), _) => format!(" — {}: {}", err.code, err.message),
        (None, Some(s)) if e.outcome != Outcome::Submitted => format!(" after {s:.1} s"),
        _ => String::new(),
    };
    // A task with replicas: each target where it lives, with its last status.
    let targets = e
        .targets
        .iter()
        .flatten()
        .map(|t| {
            format!(
                "{}/{}: {}",
                t.region.as_deref().unwrap_or("?"),
                t.backup_id,
                t.last_status.as_deref().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>();
    let targets = if targets.is_empty() {
        String::new()
    } else {
        format!(" [targets {}]", targets.join(", "))
    };
    format!(
        "event  {:<36} {:<10} {what}{extra}{targets}",
        e.outcome.detail_type(),
        e.task_id
    )
}

fn demo_items(sim: &RunningSim, checkpoint: &str) -> Vec<String> {
    let n: u32 = checkpoint.rsplit('-').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let prefix = format!("be1a0000-{n:04}-");
    let mut items: Vec<String> = sim
        .sim
        .finished()
        .into_iter()
        .map(|f| f.item_id)
        .filter(|i| i.starts_with(&prefix))
        .collect();
    items.extend(sim.sim.statuses().into_keys().filter(|i| i.starts_with(&prefix)));
    items.sort();
    items.dedup();
    items
}

pub(super) fn refresh(sim: &RunningSim, bars: &[(ProgressBar, Vec<String>)]) {
    let statuses = sim.sim.statuses();
    for (pb, items) in bars {
        let states: Vec<&str> = items
            .iter()
            .map(|i| statuses.get(i).map(String::as_str).unwrap_or("gone"))
            .collect();
        pb.set_position(states.iter().filter(|s| **s == "gone" || **s == "error").count() as u64);
        let msg = if states.contains(&"error") {
            "failed"
        } else if states.contains(&"deleting") {
            "deleting"
        } else if states.contains(&"waiting_delete") {
            "queued (5 deletions at a time)"
        } else if states.iter().all(|s| *s == "gone") {
            "gone"
        } else {
            "present"
        };
        pb.set_message(msg);
    }
}
