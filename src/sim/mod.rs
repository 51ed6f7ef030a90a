//! `csbs-sim`: a CSBS + IAM simulator on loopback, for the tests and the local run.
//!
//! It checks authentication like the real gateway (tokens it issued, or `SDK-HMAC-SHA256`
//! signatures within ±15 minutes of `X-Sdk-Date`), deletes asynchronously with at most five
//! running deletions per project, and can inject faults per route.

mod auth;
mod cbr_api;
mod csbs_api;
pub mod faults;
pub mod server;
pub mod state;
mod throttle;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

pub use faults::{Fault, Route};
pub use state::{FinishedDeletion, ItemSeed};

/// A user the simulated IAM accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimUser {
    pub username: String,
    pub password: String,
    pub domain_name: String,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub users: Vec<SimUser>,
    /// Access key → secret key.
    pub access_keys: HashMap<String, String>,
    pub token_lifetime: Duration,
    /// Duration of one deletion, drawn uniformly from the range.
    pub delete_duration: (Duration, Duration),
    /// Running deletions per project (CSBS: five).
    pub max_running_deletions: usize,
    /// Accepted skew of `X-Sdk-Date`.
    pub signature_window: Duration,
}

/// Demo credentials of the local run and the examples (documented in the README).
pub const DEMO_USER: &str = "demo-user";
pub const DEMO_PASSWORD: &str = "demo-password";
pub const DEMO_DOMAIN: &str = "demo-domain";
pub const DEMO_AK: &str = "DEMOACCESSKEY0000000";
pub const DEMO_SK: &str = "DEMOsecretkeyDEMOsecretkeyDEMOsecretkey0";
pub const DEMO_PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// Restore point `n` of the CBR demo data.
/// The replica the demo seeds into restore point 0 (`image_type: "replication"`).
pub const DEMO_REPLICA: &str = "cbb0e000-0000-4000-8000-000000000000";

pub fn demo_restore_point(n: u32) -> String {
    format!("cb400000-0000-4000-8000-{n:012}")
}

/// The demo AK/SK as client credentials.
pub fn demo_aksk() -> crate::cloud::Credentials {
    crate::cloud::Credentials::AkSk {
        ak: DEMO_AK.into(),
        sk: crate::secret::Secret::new(DEMO_SK),
        security_token: None,
    }
}

/// The demo user as client credentials (password login).
pub fn demo_password() -> crate::cloud::Credentials {
    crate::cloud::Credentials::Password {
        username: DEMO_USER.into(),
        password: crate::secret::Secret::new(DEMO_PASSWORD),
        domain_name: DEMO_DOMAIN.into(),
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            users: vec![SimUser {
                username: DEMO_USER.into(),
                password: DEMO_PASSWORD.into(),
                domain_name: DEMO_DOMAIN.into(),
            }],
            access_keys: HashMap::from([(DEMO_AK.to_string(), DEMO_SK.to_string())]),
            token_lifetime: Duration::from_secs(24 * 3600),
            delete_duration: (Duration::from_millis(500), Duration::from_millis(2000)),
            max_running_deletions: 5,
            signature_window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone)]
struct IssuedToken {
    project_id: String,
    expires_at: DateTime<Utc>,
}

/// Per-route call counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub token: u64,
    pub delete: u64,
    pub get: u64,
    pub list: u64,
    pub count: u64,
    pub cbr_delete: u64,
    pub cbr_get: u64,
    pub cbr_list: u64,
    pub cbr_operation_logs: u64,
    pub cbr_checkpoint: u64,
    pub rejected_auth: u64,
}

impl Stats {
    pub fn csbs_calls(&self) -> u64 {
        self.delete + self.get + self.list + self.count
    }

    pub fn cbr_calls(&self) -> u64 {
        self.cbr_delete + self.cbr_get + self.cbr_list + self.cbr_operation_logs + self.cbr_checkpoint
    }
}

pub(crate) struct Shared {
    config: Mutex<SimConfig>,
    backend: Mutex<state::Backend>,
    tokens: Mutex<HashMap<String, IssuedToken>>,
    faults: Mutex<Vec<Fault>>,
    stats: Mutex<Stats>,
    calls: Mutex<Vec<SimCall>>,
    throttle: Mutex<throttle::Throttle>,
}

/// One request the simulator received: its route, path and query, and when it arrived (the
/// simulator's clock), so tests can assert what was called and how far apart.
#[derive(Debug, Clone)]
pub struct SimCall {
    pub route: Route,
    pub target: String,
    pub at: Instant,
    /// Answered 429 `APIGW.0308` by the gateway's throttling ([`Simulator::set_throttle`]).
    pub throttled: bool,
}

/// Where [`Simulator::seed_replicated`] puts a replica: the simulator of its region, the
/// region's name, the project and the replica's id.
pub struct Replicated<'a> {
    pub sim: &'a Simulator,
    pub region: &'a str,
    pub project_id: &'a str,
    pub backup_id: &'a str,
}

/// A handle on the simulator's state; clones share it.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
}

/// A simulator serving HTTP; dropping it stops the server.
pub struct RunningSim {
    pub sim: Simulator,
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningSim {
    /// `http://127.0.0.1:PORT`: both the CSBS and the IAM endpoint.
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).expect("valid url")
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let backend = state::Backend::new(config.max_running_deletions, config.delete_duration);
        Simulator {
            shared: Arc::new(Shared {
                config: Mutex::new(config),
                backend: Mutex::new(backend),
                tokens: Mutex::new(HashMap::new()),
                faults: Mutex::new(Vec::new()),
                stats: Mutex::new(Stats::default()),
                calls: Mutex::default(),
                throttle: Mutex::default(),
            }),
        }
    }

    /// Serves on `addr` (port 0 = any free port).
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<RunningSim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = server::router(self.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        Ok(RunningSim { sim: self, addr, task })
    }

    /// Starts on a random loopback port.
    pub async fn start(config: SimConfig) -> std::io::Result<RunningSim> {
        Simulator::new(config)
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
    }

    pub fn seed(&self, project_id: &str, checkpoint_id: &str, items: &[ItemSeed]) {
        self.shared
            .backend
            .lock()
            .unwrap()
            .seed(project_id, checkpoint_id, items);
    }

    /// Seeds CBR backups of one restore point (none: an empty restore point).
    pub fn seed_cbr(&self, project_id: &str, restore_point: &str, backups: &[ItemSeed]) {
        self.shared
            .backend
            .lock()
            .unwrap()
            .seed_cbr(project_id, restore_point, backups);
    }

    /// Seeds a CBR backup `source` in this simulator's region with a replica `replica` in
    /// `dest` (another simulator: another region), and the `success` replication record that
    /// names it (docs/cbr-api.md, "Replicas").
    pub fn seed_replicated(&self, project_id: &str, restore_point: &str, source: ItemSeed, dest: &Replicated<'_>) {
        let record = serde_json::json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "status": "success",
            "source_backup_id": source.id,
            "source_project_id": project_id,
            "destination_region": dest.region,
            "destination_project_id": dest.project_id,
            "destination_backup_id": dest.backup_id,
            "extra_info": {"progress": 100, "auto_trigger": false}
        });
        let mut source = source;
        source.replication_records.push(record);
        self.seed_cbr(project_id, restore_point, &[source]);
        let replica = ItemSeed {
            replica: true,
            ..ItemSeed::ok(dest.backup_id)
        };
        dest.sim.seed_cbr(dest.project_id, restore_point, &[replica]);
    }

    /// Seeds the demo data of `--seed-demo` and the local run; returns (checkpoint, items).
    pub fn seed_demo(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for c in 0..8u32 {
            let checkpoint = format!("c0ffee00-0000-4000-8000-{c:012}");
            let items: Vec<String> = (0..if c == 3 { 3 } else { 1 })
                .map(|i| format!("be1a0000-{c:04}-4000-8000-{i:012}"))
                .collect();
            let seeds: Vec<ItemSeed> = items
                .iter()
                .map(|id| {
                    if c == 6 {
                        ItemSeed::failing(id)
                    } else {
                        ItemSeed::ok(id)
                    }
                })
                .collect();
            self.seed(DEMO_PROJECT, &checkpoint, &seeds);
            out.push((checkpoint, items));
        }
        self.seed_demo_cbr();
        out
    }

    /// CBR demo data beside the CSBS one: restore point 0 with two server backups (each
    /// listed with a per-disk child), backups 1 and 2 on their own restore points, 2 failing.
    pub fn seed_demo_cbr(&self) {
        let backup = |rp: u32, i: u32| format!("cbb00000-{rp:04}-4000-8000-{i:012}");
        let with_child = |id: String| ItemSeed {
            with_child: true,
            ..ItemSeed::ok(id)
        };
        // Restore point 0 also lists a replica received from another region: never a target
        // (docs/DESIGN.md, "CBR targets").
        let replica = ItemSeed {
            replica: true,
            ..ItemSeed::ok(DEMO_REPLICA)
        };
        self.seed_cbr(
            DEMO_PROJECT,
            &demo_restore_point(0),
            &[with_child(backup(0, 0)), with_child(backup(0, 1)), replica],
        );
        self.seed_cbr(DEMO_PROJECT, &demo_restore_point(1), &[ItemSeed::ok(backup(1, 0))]);
        self.seed_cbr(DEMO_PROJECT, &demo_restore_point(2), &[ItemSeed::failing(backup(2, 0))]);
    }

    pub fn add_fault(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.lock().unwrap().clear();
    }

    /// Makes every issued token invalid, as if they had expired.
    pub fn expire_tokens(&self) {
        self.shared.tokens.lock().unwrap().clear();
    }

    pub fn set_delete_duration(&self, lo: Duration, hi: Duration) {
        self.shared.backend.lock().unwrap().delete_duration = (lo, hi);
        self.shared.config.lock().unwrap().delete_duration = (lo, hi);
    }

    /// Running deletions per project from now on (what ran until now is replayed first).
    pub fn set_max_running(&self, n: usize) {
        let mut b = self.shared.backend.lock().unwrap();
        b.advance(Instant::now());
        b.max_running = n.max(1);
    }

    pub fn item_status(&self, project_id: &str, item_id: &str) -> Option<String> {
        self.shared
            .backend
            .lock()
            .unwrap()
            .status_of(project_id, item_id, Instant::now())
    }

    pub fn statuses(&self) -> BTreeMap<String, String> {
        self.shared.backend.lock().unwrap().statuses(Instant::now())
    }

    /// Deletions that finished (or failed), in order.
    pub fn finished(&self) -> Vec<FinishedDeletion> {
        let mut b = self.shared.backend.lock().unwrap();
        b.advance(Instant::now());
        b.finished.clone()
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats.lock().unwrap().clone()
    }

    /// Every request received so far, in arrival order.
    pub fn calls(&self) -> Vec<SimCall> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// Throttles every project at `calls_per_second` (`None`: no throttling), as the API
    /// gateway does per user.
    pub fn set_throttle(&self, calls_per_second: Option<f64>) {
        self.shared.throttle.lock().unwrap().set_rate(calls_per_second);
    }

    /// Logs a call; `true` when the gateway's throttle refuses it (`project`: whose bucket).
    pub(crate) fn record_call(&self, route: Route, target: &str, project: Option<&str>) -> bool {
        let at = Instant::now();
        let throttled = project.is_some_and(|p| self.shared.throttle.lock().unwrap().refuses(p, at));
        self.shared.calls.lock().unwrap().push(SimCall {
            route,
            target: target.to_string(),
            at,
            throttled,
        });
        throttled
    }

    pub fn reset_stats(&self) {
        *self.shared.stats.lock().unwrap() = Stats::default();
    }
}
