//! What answers before the cluster zone, in CoreDNS's plugin order: rewrites of the question's
//! name, then templates, then hosts entries. Replaced whole on reload.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::{LowerName, Name, RecordType};

use super::answer::Answer;
use super::rewrite::Rewrite;
use super::template::Template;
use crate::hosts::Hosts;

#[derive(Default)]
pub struct Rules {
    pub rewrites: Vec<Arc<Rewrite>>,
    pub templates: Vec<Template>,
    pub hosts: Option<Arc<Hosts>>,
}

impl Rules {
    /// Built from checked settings (the flags' parsers accepted every rule).
    pub fn new(rewrites: &[String], templates: &[String], hosts: Option<Arc<Hosts>>) -> Rules {
        Rules {
            rewrites: rewrites.iter().filter_map(|r| Rewrite::parse(r).ok()).map(Arc::new).collect(),
            templates: templates.iter().filter_map(|t| Template::parse(t).ok()).collect(),
            hosts,
        }
    }

    /// No rule at all: every question goes to the zones as asked.
    pub fn is_empty(&self) -> bool {
        self.rewrites.is_empty() && self.templates.is_empty() && self.hosts.is_none()
    }

    /// The first template's answer that takes the question, else the hosts entries'.
    pub fn answer(&self, name: &Name, lower: &LowerName, qtype: RecordType, remote: IpAddr) -> Option<Answer> {
        self.templates
            .iter()
            .find_map(|t| t.answer(name, lower, qtype, remote))
            .or_else(|| self.hosts.as_ref().and_then(|h| h.answer(name, lower, qtype)))
    }
}
