//! The authoritative side: which of our zones a name falls in, its answer, and in-zone CNAME
//! chasing for ExternalName Services.

use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RecordType};

use super::answer::Answer;
use super::cluster::{self, Question};
use super::qname::relative_labels;
use super::reverse;
use super::zone::{ZoneKind, ZoneSettings};
use crate::registry::{Registry, Snapshot};

/// The most CNAMEs followed for one question.
const MAX_CNAME_HOPS: usize = 10;

pub struct Authority {
    zone: ZoneSettings,
    registry: Registry,
    rotation: AtomicUsize,
}

impl Authority {
    pub fn new(zone: ZoneSettings, registry: Registry) -> Authority {
        Authority { zone, registry, rotation: AtomicUsize::new(0) }
    }

    pub fn zone(&self) -> &ZoneSettings {
        &self.zone
    }

    /// The answer for a name in one of our zones, or `None` when the name is not ours. `name`
    /// is the name as asked (its case is echoed in owner names), `lower` the same lower-cased.
    pub fn answer(&self, name: &Name, lower: &LowerName, qtype: RecordType) -> Option<Answer> {
        let snapshot = self.registry.snapshot();
        let rotation = self.rotation.fetch_add(1, Ordering::Relaxed);
        let mut answer = self.answer_one(&snapshot, name, lower, qtype, rotation)?;
        self.chase(&snapshot, lower, &mut answer, qtype, rotation);
        // Before the first complete view of the cluster, a missing name may only be missing
        // from us: NXDOMAIN would be cached downstream, SERVFAIL is retried.
        if !snapshot.synced && answer.rcode == ResponseCode::NXDomain {
            answer.rcode = ResponseCode::ServFail;
            answer.soa = None;
        }
        Some(answer)
    }

    fn answer_one(
        &self,
        snapshot: &Snapshot,
        name: &Name,
        lower: &LowerName,
        qtype: RecordType,
        rotation: usize,
    ) -> Option<Answer> {
        let (kind, apex) = self.zone.zone_of(lower)?;
        let labels = relative_labels(lower, apex)?;
        let question = Question { name, labels: &labels, qtype, rotation };
        Some(match kind {
            ZoneKind::Cluster => cluster::answer(&self.zone, snapshot, &question),
            ZoneKind::ReverseV4 | ZoneKind::ReverseV6 => reverse::answer(&self.zone, snapshot, kind, &question),
        })
    }

    /// Follows CNAMEs whose targets are in our zones, appending the targets' records; the
    /// rcode and SOA become those of the last name in the chain (RFC 6604 §3). A target outside
    /// our zones, a loop or too many hops ends the chain with what we have: the CNAME is never
    /// dropped.
    fn chase(&self, snapshot: &Snapshot, name: &LowerName, answer: &mut Answer, qtype: RecordType, rotation: usize) {
        if answer.chase.is_none() {
            return;
        }
        let mut seen = vec![name.clone()];
        while let Some(target) = answer.chase.take() {
            let lower = LowerName::new(&target);
            if seen.len() > MAX_CNAME_HOPS || seen.contains(&lower) {
                break;
            }
            let Some(next) = self.answer_one(snapshot, &target, &lower, qtype, rotation) else { break };
            seen.push(lower);
            answer.answers.extend(next.answers);
            answer.additionals.extend(next.additionals);
            answer.rcode = next.rcode;
            answer.soa = next.soa;
            answer.chase = next.chase;
        }
    }
}
