//! The local run's world: the simulator with its demo backups, the in-memory queue, intake,
//! bus and ledger, and the submit and poll workflows on them (built as the Lambda wiring
//! builds them, src/wiring.rs, with in-memory adapters).

use std::sync::Arc;
use std::time::Duration;

use super::{LOCAL_WEBHOOK_SECRET, Local, LocalOptions, POLL_WINDOW, RETENTION_SERVER};
use crate::adapters::memory::{MemoryLedger, MemoryQueue, MemorySink};
use crate::cloud::ClientConfig;
use crate::csbs::CsbsClient;
use crate::poll::{PollSettings, Poller};
use crate::ports::sink::EventSink;
use crate::secret::Secret;
use crate::sim::{DEMO_PROJECT, RunningSim, SimConfig, Simulator};
use crate::submit::{SubmitSettings, Submitter};
use crate::webhook::WebhookPolicy;
use crate::wiring::SubmitApp;

pub(super) async fn build(opts: &LocalOptions) -> std::io::Result<Local> {
    let sim = Simulator::start(SimConfig {
        delete_duration: opts.delete_duration,
        ..SimConfig::default()
    })
    .await?;
    seed(&sim);
    // The second region, with its own backups, deletion queue and IAM (docs/DESIGN.md,
    // "Regions"): it holds the replica of the demo's replicated backup.
    let replica_region = Simulator::start(SimConfig {
        delete_duration: opts.delete_duration,
        ..SimConfig::default()
    })
    .await?;
    seed_replicated(&sim, &replica_region);
    let creds = crate::sim::demo_password();
    let regions = std::collections::BTreeMap::from([(
        REPLICA_REGION.to_string(),
        crate::region::RegionEndpoints {
            services: std::collections::BTreeMap::from([(crate::service::Service::Cbr, replica_region.base_url())]),
            iam: Some(replica_region.base_url()),
        },
    )]);
    let client = ClientConfig::new(sim.base_url(), sim.base_url(), creds)
        .with_cbr(sim.base_url())
        .with_regions(HOME_REGION, regions);
    let csbs = CsbsClient::new(client).map_err(std::io::Error::other)?;
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(120)));
    let intake = Arc::new(MemoryQueue::new(Duration::from_secs(120)));
    let sink = Arc::new(MemorySink::new());
    let ledger = Arc::new(MemoryLedger::new());
    let settings = SubmitSettings {
        // Accelerated, like the poll interval.
        expand: crate::select::ExpandSettings {
            step_delay_secs: 1,
            ..Default::default()
        },
        ..SubmitSettings::default()
    };
    let submitter = Submitter::new(
        csbs.clone(),
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger.clone(),
        settings,
    )
    .with_intake(intake.clone());
    let app = Arc::new(SubmitApp::new(
        submitter,
        WebhookPolicy::Secret(Secret::new(LOCAL_WEBHOOK_SECRET)),
    ));
    let settings = PollSettings {
        window: POLL_WINDOW,
        interval: opts.poll_interval,
        ..Default::default()
    };
    let poller = Arc::new(Poller::new(
        csbs,
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        ledger.clone(),
        settings,
    ));
    Ok(Local {
        sim,
        replica_region,
        sink,
        queue,
        intake,
        app,
        poller,
        ledger,
    })
}

/// The local run's default region (`DEFAULT_REGION`) and its second one (`REGIONS`).
pub(super) const HOME_REGION: &str = "eu-de";
pub(super) const REPLICA_REGION: &str = "eu-nl";
/// The project of the second region (project ids are regional).
pub(super) const REPLICA_PROJECT: &str = "0123456789abcdef0123456789abcd02";
/// The demo's replicated backup and its replica in [`REPLICA_REGION`].
pub(super) const REPLICATED_BACKUP: &str = "cbb0a000-0000-4000-8000-000000000001";
const REPLICA_OF_IT: &str = "cbb0a000-0000-4000-8000-0000000000a1";

/// A CBR backup of the default region replicated to the second one.
fn seed_replicated(home: &RunningSim, other: &RunningSim) {
    let dest = crate::sim::Replicated {
        sim: &other.sim,
        region: REPLICA_REGION,
        project_id: REPLICA_PROJECT,
        backup_id: REPLICA_OF_IT,
    };
    home.sim.seed_replicated(
        DEMO_PROJECT,
        &crate::sim::demo_restore_point(9),
        crate::sim::ItemSeed::ok(REPLICATED_BACKUP),
        &dest,
    );
}

/// The demo backups, and a server with four manual backups, 5 to 60 days old, for the
/// retention rule.
fn seed(sim: &RunningSim) {
    sim.sim.seed_demo();
    let retention: Vec<crate::sim::ItemSeed> = [5i64, 40, 50, 60]
        .iter()
        .enumerate()
        .map(|(i, days)| crate::sim::ItemSeed {
            resource_id: Some(RETENTION_SERVER.into()),
            created_at: Some(
                (chrono::Utc::now() - chrono::Duration::days(*days))
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string(),
            ),
            name: Some(format!("manual-{days}d")),
            ..crate::sim::ItemSeed::ok(format!("5e1ec700-0000-4000-8000-{i:012}"))
        })
        .collect();
    sim.sim
        .seed(DEMO_PROJECT, "5e1ec700-cccc-4000-8000-000000000000", &retention);
}
