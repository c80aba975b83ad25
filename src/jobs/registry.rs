//! The registry: what each job kind does, keyed by its stored name, and the recurring
//! schedules and start-up passes the kinds bring. [`super::kinds`] fills it once, in one list;
//! the runner dispatches claimed rows through it by their stored name and never names a kind.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{JobError, Outcome};
use crate::app::App;
use crate::model::entities::Millis;
use crate::queue::{JobKind, Queue};
use crate::store::NewSchedule;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Runs one stored payload of a kind: decodes it, then runs the kind's work.
type Handler = Box<dyn Fn(Arc<App>, &str) -> BoxFuture<Result<Outcome, JobError>> + Send + Sync>;

/// A pass at start-up over the storages this node serves (reconciliation a kind needs after a
/// crash, such as recording the pushes a dead instance left).
type StartPass = Box<dyn Fn(Arc<App>, Vec<String>) -> BoxFuture<()> + Send + Sync>;

/// One registered kind.
struct Registered {
    queue: Queue,
    handler: Handler,
}

/// A recurring schedule as a kind declares it.
pub(crate) struct Recurring {
    name: String,
    kind: &'static str,
    payload: String,
    every: Duration,
    jitter: Duration,
    /// Due at every start of a node (a sweep of what a dead instance left), besides its interval.
    at_start: bool,
}

impl Recurring {
    /// The row to upsert at start, at `now`.
    pub(crate) fn row(&self, now: Millis) -> NewSchedule {
        NewSchedule {
            name: self.name.clone(),
            kind: self.kind,
            payload: self.payload.clone(),
            every_ms: self.every.as_millis() as i64,
            jitter_ms: self.jitter.as_millis() as i64,
            due_by: if self.at_start {
                now
            } else {
                now + self.every.as_millis() as i64
            },
        }
    }

    /// The schedule's name (its kind's dedup key).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// Every kind this binary runs, with its schedules and start-up passes.
#[derive(Default)]
pub(crate) struct Registry {
    kinds: BTreeMap<&'static str, Registered>,
    schedules: Vec<Recurring>,
    start_passes: Vec<StartPass>,
}

impl Registry {
    /// Registers kind `K`, run by `run`. Panics when `K::NAME` is registered twice.
    pub(crate) fn register<K, F, Fut>(&mut self, run: F)
    where
        K: JobKind,
        F: Fn(Arc<App>, K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outcome, JobError>> + Send + 'static,
    {
        let handler: Handler = Box::new(move |app, payload| match K::decode(payload) {
            Ok(job) => Box::pin(run(app, job)),
            Err(e) => Box::pin(std::future::ready(Err(JobError::Other(e)))),
        });
        let queue = K::QUEUE;
        let previous = self.kinds.insert(K::NAME, Registered { queue, handler });
        assert!(previous.is_none(), "job kind {} registered twice", K::NAME);
    }

    /// Runs `job` (of a registered kind) every `every`, plus up to `jitter`; `at_start`: also
    /// at each start of a node.
    pub(crate) fn every<K: JobKind>(
        &mut self,
        job: K,
        every: Duration,
        jitter: Duration,
        at_start: bool,
    ) {
        assert!(
            self.kinds.contains_key(K::NAME),
            "schedule of unregistered kind {}",
            K::NAME
        );
        self.schedules.push(Recurring {
            name: job.dedup_key(),
            kind: K::NAME,
            payload: serde_json::to_string(&job).expect("job payloads serialise"),
            every,
            jitter,
            at_start,
        });
    }

    /// Runs `pass` once at each start of the runner, over the storages this node serves.
    pub(crate) fn at_start<F, Fut>(&mut self, pass: F)
    where
        F: Fn(Arc<App>, Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.start_passes
            .push(Box::new(move |app, storages| Box::pin(pass(app, storages))));
    }

    /// The queues that have a kind, each with its kinds' stored names.
    pub(crate) fn queues(&self) -> Vec<(Queue, Vec<&'static str>)> {
        let mut out: BTreeMap<Queue, Vec<&'static str>> = BTreeMap::new();
        for (name, k) in &self.kinds {
            out.entry(k.queue).or_default().push(name);
        }
        out.into_iter().collect()
    }

    /// Every registered kind's stored name.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }

    pub(crate) fn schedules(&self) -> &[Recurring] {
        &self.schedules
    }

    /// Runs the start-up passes, one after the other.
    pub(crate) async fn start(&self, app: &Arc<App>, storages: &[String]) {
        for pass in &self.start_passes {
            pass(app.clone(), storages.to_vec()).await;
        }
    }

    /// Runs one stored `payload` of the kind named `kind`.
    pub(crate) fn run(
        &self,
        app: Arc<App>,
        kind: &str,
        payload: &str,
    ) -> BoxFuture<Result<Outcome, JobError>> {
        match self.kinds.get(kind) {
            Some(k) => (k.handler)(app, payload),
            None => Box::pin(std::future::ready(Err(JobError::Other(format!(
                "unknown job kind {kind}"
            ))))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Mail {}

    impl JobKind for Mail {
        const NAME: &'static str = "test_mail";
        const QUEUE: Queue = Queue::Mail;
        fn dedup_key(&self) -> String {
            "mail".into()
        }
    }

    #[derive(Serialize, Deserialize)]
    struct Sweep {}

    impl JobKind for Sweep {
        const NAME: &'static str = "test_sweep";
        const QUEUE: Queue = Queue::Maintenance;
        fn dedup_key(&self) -> String {
            "sweep:test".into()
        }
    }

    async fn done<K>(_: Arc<App>, _: K) -> Result<Outcome, JobError> {
        Ok(Outcome::Done)
    }

    #[test]
    fn kinds_are_grouped_by_queue_and_schedules_name_their_kind() {
        let mut r = Registry::default();
        r.register::<Mail, _, _>(done);
        r.register::<Sweep, _, _>(done);
        r.every(
            Sweep {},
            Duration::from_secs(30),
            Duration::from_secs(5),
            false,
        );
        assert_eq!(
            r.queues(),
            vec![
                (Queue::Mail, vec!["test_mail"]),
                (Queue::Maintenance, vec!["test_sweep"])
            ]
        );
        let row = r.schedules()[0].row(1_000);
        assert_eq!((row.name.as_str(), row.kind), ("sweep:test", "test_sweep"));
        assert_eq!(
            (row.every_ms, row.jitter_ms, row.due_by),
            (30_000, 5_000, 31_000)
        );
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_kind_is_registered_once() {
        let mut r = Registry::default();
        r.register::<Mail, _, _>(done);
        r.register::<Mail, _, _>(done);
    }

    #[test]
    #[should_panic(expected = "unregistered kind")]
    fn a_schedule_needs_its_kind_registered() {
        Registry::default().every(Sweep {}, Duration::from_secs(1), Duration::ZERO, true);
    }
}
