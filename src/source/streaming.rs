//! Whether a watch lists through a streaming list (`sendInitialEvents=true`, the WatchList
//! feature): the API server sends the current objects as events of the watch itself, from its
//! watch cache, then a bookmark marking their end, instead of answering one large LIST.
//!
//! Kubernetes 1.34 and later offer it by default; 1.33 refuses the parameter (422), and a
//! server that ignores it never sends the end bookmark. kube's watcher does not fall back by
//! itself, so each watch tries streaming first and falls back to LIST and WATCH when the
//! server shows it does not stream: a refusal (also after streaming worked, as after a
//! rollback of the API server), or two streams in a row that ended without completing a list
//! and without an error to explain it.

use kube::runtime::watcher;

/// Streams that end unfinished, with nothing wrong, before streaming is given up.
const UNFINISHED_LIMIT: u8 = 2;

/// Where a watch stands with streaming lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    /// Not used: disabled, or the server does not offer it.
    Off,
    /// Being tried. `started`: a streaming watch has begun and not finished its list;
    /// `errored`: an error came since, which explains an unfinished stream; `unfinished`:
    /// streams that ended unfinished without one.
    Trying { started: bool, errored: bool, unfinished: u8 },
    /// A streaming list has completed: the server offers it.
    Confirmed,
}

impl Streaming {
    pub fn new(enabled: bool) -> Streaming {
        if enabled { Streaming::Trying { started: false, errored: false, unfinished: 0 } } else { Streaming::Off }
    }

    pub fn is_on(self) -> bool {
        self != Streaming::Off
    }

    /// Takes one watcher event into account. Returns why the server does not stream lists,
    /// when this event shows it; the watch must then restart without them.
    pub fn observe<K>(&mut self, event: &Result<watcher::Event<K>, watcher::Error>) -> Option<String> {
        if let Err(watcher::Error::WatchStartFailed(kube::Error::Api(status))) = event
            && self.is_on()
            && [400, 422].contains(&status.code)
        {
            *self = Streaming::Off;
            return Some(format!("refused: {}", status.message));
        }
        let Streaming::Trying { started, errored, unfinished } = *self else { return None };
        match event {
            Ok(watcher::Event::InitDone) => *self = Streaming::Confirmed,
            Ok(watcher::Event::Init) => {
                let unfinished = unfinished + u8::from(started && !errored);
                if unfinished >= UNFINISHED_LIMIT {
                    *self = Streaming::Off;
                    return Some(format!("{unfinished} streaming lists in a row ended before their end bookmark"));
                }
                *self = Streaming::Trying { started: true, errored: false, unfinished };
            }
            Err(_) => *self = Streaming::Trying { started, errored: true, unfinished },
            Ok(_) => {}
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

    fn event(event: Event<Service>) -> Observed {
        Ok(event)
    }

    #[test]
    fn a_refusal_turns_streaming_off_even_after_it_worked() {
        let mut refused = Streaming::new(true);
        assert!(refused.observe(&refusal(422)).is_some_and(|why| why.contains("forbidden")));
        assert_eq!(refused, Streaming::Off);

        let mut served = Streaming::new(true);
        served.observe(&event(Event::Init));
        served.observe(&event(Event::InitDone));
        assert_eq!(served, Streaming::Confirmed);
        assert_eq!(served.observe(&event(Event::Init)), None, "a relist after 410 Gone streams again");
        // The API server rolled back to a version (or a gate) without streaming lists.
        assert!(served.observe(&refusal(400)).is_some());
        assert_eq!(served, Streaming::Off);

        let mut unavailable = Streaming::new(true);
        assert_eq!(unavailable.observe(&refusal(503)), None, "an outage says nothing about streaming");
        assert!(unavailable.is_on());
        assert!(!Streaming::new(false).is_on());
        assert_eq!(Streaming::Off.clone().observe(&refusal(422)), None);
    }

    #[test]
    fn streams_that_keep_ending_unfinished_turn_it_off_but_one_cut_by_an_error_does_not() {
        let mut ignored = Streaming::new(true);
        assert_eq!(ignored.observe(&event(Event::Init)), None);
        assert_eq!(ignored.observe(&event(Event::InitApply(Service::default()))), None);
        assert_eq!(ignored.observe(&event(Event::Init)), None, "one unfinished stream may be a cut");
        assert!(ignored.observe(&event(Event::Init)).is_some(), "the second in a row is the server");
        assert_eq!(ignored, Streaming::Off);

        // Connection resets or a 410 between the starts explain them: streaming stays on.
        let mut cut = Streaming::new(true);
        for _ in 0..5 {
            assert_eq!(cut.observe(&event(Event::Init)), None);
            assert_eq!(cut.observe(&refusal(503)), None);
        }
        assert!(cut.is_on());
        cut.observe(&event(Event::InitDone));
        assert_eq!(cut, Streaming::Confirmed);
    }
}
