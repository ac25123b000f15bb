//! The worker's stdout protocol: one line per event, which the pool reads.
//! The lines only make the host react fast; the queue stays the record, so
//! a lost line costs time, never a result.

use crate::store::queue::{JobId, WorkerId};

/// A line the worker sends to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ready(WorkerId),
    Started(JobId),
    Done(JobId),
    Idle,
}

impl Event {
    pub fn parse(line: &str) -> Option<Event> {
        let (word, arg) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        let id = || arg.parse::<i64>().ok();
        Some(match word {
            "ready" => Event::Ready(WorkerId(id()?)),
            "started" => Event::Started(JobId(id()?)),
            "done" => Event::Done(JobId(id()?)),
            "idle" => Event::Idle,
            _ => return None,
        })
    }

    pub fn line(&self) -> String {
        match self {
            Event::Ready(w) => format!("ready {}\n", w.0),
            Event::Started(j) => format!("started {}\n", j.0),
            Event::Done(j) => format!("done {}\n", j.0),
            Event::Idle => "idle\n".to_owned(),
        }
    }
}
