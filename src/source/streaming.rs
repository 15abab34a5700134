//! Whether a watch lists through a streaming list (`sendInitialEvents=true`, the WatchList
//! feature): the API server sends the current objects as events of the watch itself, from its
//! watch cache, then a bookmark marking their end, instead of answering one large LIST.
//!
//! Kubernetes 1.34 and later offer it by default; 1.33 refuses the parameter (422), and a
//! server that ignores it would never send the end bookmark. kube's watcher does not fall back
//! by itself, so each watch tries streaming first and falls back to LIST and WATCH for good
//! when the server shows it does not stream: a refusal, or a stream that began and ended
//! without completing a list.

use kube::runtime::watcher;

/// Where a watch stands with streaming lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    /// Not used: disabled, or the server does not offer it.
    Off,
    /// Being tried; `started` once a streaming watch has begun.
    Trying { started: bool },
    /// A streaming list has completed: the server offers it.
    Confirmed,
}

impl Streaming {
    pub fn new(enabled: bool) -> Streaming {
        if enabled { Streaming::Trying { started: false } } else { Streaming::Off }
    }

    pub fn is_on(self) -> bool {
        self != Streaming::Off
    }

    /// Takes one watcher event into account. Returns why the server does not stream lists,
    /// when this event shows it; the watch must then restart without them.
    pub fn observe<K>(&mut self, event: &Result<watcher::Event<K>, watcher::Error>) -> Option<String> {
        let Streaming::Trying { started } = *self else { return None };
        match event {
            Ok(watcher::Event::InitDone) => *self = Streaming::Confirmed,
            Ok(watcher::Event::Init) if started => {
                *self = Streaming::Off;
                return Some("a streaming list ended before its end bookmark".to_string());
            }
            Ok(watcher::Event::Init) => *self = Streaming::Trying { started: true },
            Err(watcher::Error::WatchStartFailed(kube::Error::Api(status))) if [400, 422].contains(&status.code) => {
                *self = Streaming::Off;
                return Some(format!("refused: {}", status.message));
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use watcher::Event;

    type Observed = Result<Event<Service>, watcher::Error>;

    fn refusal(code: u16) -> Observed {
        let status = kube::core::Status::failure("sendInitialEvents is forbidden", "Invalid").with_code(code);
        Err(watcher::Error::WatchStartFailed(kube::Error::Api(Box::new(status))))
    }

    #[test]
    fn a_refusal_or_an_unfinished_stream_turns_streaming_off_and_a_finished_one_confirms_it() {
        let mut refused = Streaming::new(true);
        assert!(refused.observe(&refusal(422)).is_some_and(|why| why.contains("forbidden")));
        assert_eq!(refused, Streaming::Off);

        let mut ignored = Streaming::new(true);
        assert_eq!(ignored.observe::<Service>(&Ok(Event::Init)), None);
        assert!(ignored.observe::<Service>(&Ok(Event::InitApply(Service::default()))).is_none());
        assert!(ignored.observe::<Service>(&Ok(Event::Init)).is_some(), "begun again without an end");
        assert_eq!(ignored, Streaming::Off);

        let mut served = Streaming::new(true);
        served.observe::<Service>(&Ok(Event::Init));
        served.observe::<Service>(&Ok(Event::InitDone));
        assert_eq!(served, Streaming::Confirmed);
        assert_eq!(served.observe::<Service>(&Ok(Event::Init)), None, "a relist after 410 Gone streams again");
        assert_eq!(served.observe(&refusal(422)), None, "a confirmed server is not second-guessed");

        let mut unavailable = Streaming::new(true);
        assert_eq!(unavailable.observe(&refusal(503)), None, "an outage says nothing about streaming");
        assert!(unavailable.is_on());
        assert!(!Streaming::new(false).is_on());
    }
}
