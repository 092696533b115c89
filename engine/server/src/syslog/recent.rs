//! The recent syslog events of each device (issue 12: "recorded"), newest
//! last: at most `per_device` per device and `max_devices` devices; the
//! device first heard longest ago is forgotten first. Text is cut to
//! [`TEXT_KEPT`] bytes so a record's size is bounded too.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use headend_wire::syslog::Level;
use parking_lot::Mutex;

/// Bytes of the raw line kept per event.
pub const TEXT_KEPT: usize = 512;

/// One received event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEvent {
    /// When it was received (Unix seconds, server clock).
    pub at: u64,
    /// Who sent it.
    pub source: SocketAddr,
    /// Event id, when the message had one.
    pub event_id: Option<u32>,
    /// Level.
    pub level: Level,
    /// The raw line (cut to [`TEXT_KEPT`] bytes).
    pub raw: String,
    /// What the mem-event hook made of it (`applied 2`, `no handler`, …).
    pub outcome: String,
}

type Inner = (HashMap<String, VecDeque<RecentEvent>>, VecDeque<String>);

/// Recent events per device, bounded.
#[derive(Debug)]
pub struct Recent {
    limits: Mutex<(usize, usize)>,
    inner: Mutex<Inner>,
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

impl Recent {
    /// At most `per_device` events for each of at most `max_devices` devices.
    pub fn new(per_device: usize, max_devices: usize) -> Recent {
        Recent {
            limits: Mutex::new((per_device.max(1), max_devices.max(1))),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// New bounds (a reload); they apply from the next record on.
    pub fn set_limits(&self, per_device: usize, max_devices: usize) {
        *self.limits.lock() = (per_device.max(1), max_devices.max(1));
    }

    /// Records `ev` for the device `mac`.
    pub fn record(&self, mac: &str, mut ev: RecentEvent) {
        let (per_device, max_devices) = *self.limits.lock();
        ev.raw = cut(&ev.raw, TEXT_KEPT);
        let mut g = self.inner.lock();
        let (map, order) = &mut *g;
        let list = map.entry(mac.to_string()).or_insert_with(|| {
            order.push_back(mac.to_string());
            VecDeque::new()
        });
        list.push_back(ev);
        while list.len() > per_device {
            list.pop_front();
        }
        while order.len() > max_devices {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// The recent events of `mac`, oldest first.
    pub fn of(&self, mac: &str) -> Vec<RecentEvent> {
        self.inner
            .lock()
            .0
            .get(mac)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Devices with recorded events.
    pub fn devices(&self) -> usize {
        self.inner.lock().0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u64, raw: &str) -> RecentEvent {
        RecentEvent {
            at: n,
            source: SocketAddr::from(([127, 0, 0, 1], 514)),
            event_id: Some(n as u32),
            level: Level::Information,
            raw: raw.into(),
            outcome: String::new(),
        }
    }

    #[test]
    fn bounded_per_device_and_in_devices() {
        let r = Recent::new(3, 2);
        for n in 0..5 {
            r.record("a", ev(n, "x"));
        }
        assert_eq!(
            r.of("a").iter().map(|e| e.at).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        r.record("b", ev(9, "y"));
        r.record("c", ev(9, "z"));
        assert_eq!(r.devices(), 2);
        assert!(r.of("a").is_empty(), "the device first heard goes first");
        let long = "é".repeat(TEXT_KEPT);
        r.record("c", ev(10, &long));
        let kept = &r.of("c")[1].raw;
        assert!(
            kept.len() <= TEXT_KEPT && kept.len() >= TEXT_KEPT - 1,
            "{}",
            kept.len()
        );
        r.set_limits(1, 2);
        r.record("c", ev(11, "w"));
        assert_eq!(r.of("c").len(), 1);
    }
}
