//! How many calls run at once, per region: `CLOUD_CONCURRENCY` bounds the parallel calls to one
//! region's endpoints (each region has its own API gateway), so a task's replicas in other
//! regions do not wait behind its sources (docs/DESIGN.md, "Regions").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One pool of call slots per region, made when the region is first called.
#[derive(Debug)]
pub struct Slots {
    per_region: usize,
    pools: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Slots {
    pub fn new(per_region: usize) -> Self {
        Slots {
            per_region: per_region.max(1),
            pools: Mutex::default(),
        }
    }

    /// A slot for one call to `region` (`None`: the default region).
    pub async fn acquire(&self, region: Option<&str>) -> OwnedSemaphorePermit {
        let pool = {
            let mut pools = self.pools.lock().expect("never poisoned");
            pools
                .entry(region.unwrap_or_default().to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_region)))
                .clone()
        };
        pool.acquire_owned().await.expect("never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_region_has_its_own_slots() {
        let slots = Slots::new(1);
        let held = slots.acquire(Some("eu-nl")).await;
        // Another region is not blocked by it; the same region is.
        let _other = slots.acquire(None).await;
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), slots.acquire(Some("eu-nl")))
                .await
                .is_err()
        );
        drop(held);
        let _again = slots.acquire(Some("eu-nl")).await;
    }
}
