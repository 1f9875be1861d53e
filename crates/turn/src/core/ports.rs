//! Relay port selection within the configured range.

use std::collections::HashSet;

/// An inclusive range of relay ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// Lowest port.
    pub min: u16,
    /// Highest port.
    pub max: u16,
}

impl PortRange {
    /// Parses `LO-HI`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (lo, hi) = s.split_once('-').ok_or("expected LO-HI, e.g. 49152-65535")?;
        let min: u16 = lo.trim().parse().map_err(|_| format!("{lo:?} is not a port"))?;
        let max: u16 = hi.trim().parse().map_err(|_| format!("{hi:?} is not a port"))?;
        if min == 0 || min > max {
            return Err("the range must be non-empty and start above 0".into());
        }
        Ok(Self { min, max })
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.min..=self.max).contains(&port)
    }

    /// How many ports the range holds.
    pub fn len(&self) -> usize {
        usize::from(self.max - self.min) + 1
    }

    /// Whether the range is empty (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.max < self.min
    }
}

/// Which relay ports are taken. Each search starts at a random port (RFC 6056's advice for
/// ephemeral ports), so an off-path attacker cannot predict the next relay address from the
/// last one.
#[derive(Debug)]
pub(crate) struct Ports {
    range: PortRange,
    used: HashSet<u16>,
    next: u16,
}

impl Ports {
    pub(crate) fn new(range: PortRange) -> Self {
        Self { range, used: HashSet::new(), next: range.min }
    }

    fn start_at_random(&mut self) {
        let span = self.range.len() as u32;
        self.next = self.range.min + (rand::random::<u32>() % span) as u16;
    }

    /// Takes a free port (even if `even`), trying up to `attempts` candidates that `usable`
    /// accepts (the I/O layer binds a socket there).
    pub(crate) fn take(&mut self, even: bool, mut usable: impl FnMut(u16) -> bool) -> Option<u16> {
        self.start_at_random();
        let span = self.range.len();
        for _ in 0..span {
            let candidate = self.next;
            self.next = if self.next >= self.range.max { self.range.min } else { self.next + 1 };
            if (even && candidate % 2 != 0) || self.used.contains(&candidate) {
                continue;
            }
            if usable(candidate) {
                self.used.insert(candidate);
                return Some(candidate);
            }
        }
        None
    }

    /// Takes a free even port whose next-higher port is free too (EVEN-PORT with the R bit,
    /// RFC 8656 §7.2): both go through `usable` (the I/O layer binds them), the odd one to be
    /// held for a RESERVATION-TOKEN. Returns the even port.
    pub(crate) fn take_pair(&mut self, mut usable: impl FnMut(u16) -> bool) -> Option<u16> {
        self.start_at_random();
        let span = self.range.len();
        for _ in 0..span {
            let candidate = self.next;
            self.next = if self.next >= self.range.max { self.range.min } else { self.next + 1 };
            if !candidate.is_multiple_of(2) || candidate >= self.range.max {
                continue;
            }
            if self.used.contains(&candidate) || self.used.contains(&(candidate + 1)) {
                continue;
            }
            if usable(candidate) && usable(candidate + 1) {
                self.used.insert(candidate);
                self.used.insert(candidate + 1);
                return Some(candidate);
            }
        }
        None
    }

    pub(crate) fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_each_port_once_and_reuses_released_ones() {
        let mut p = Ports::new(PortRange::parse("50000-50003").unwrap());
        let mut got: Vec<u16> = (0..4).map(|_| p.take(false, |_| true).unwrap()).collect();
        got.sort();
        assert_eq!(got, vec![50000, 50001, 50002, 50003]);
        assert_eq!(p.take(false, |_| true), None);
        p.release(50002);
        assert_eq!(p.take(false, |_| true), Some(50002));
    }

    #[test]
    fn even_ports_and_unusable_ones() {
        let mut p = Ports::new(PortRange::parse("50000-50009").unwrap());
        assert_eq!(p.take(true, |_| true).map(|x| x % 2), Some(0));
        let mut q = Ports::new(PortRange::parse("50000-50001").unwrap());
        assert_eq!(q.take(false, |_| false), None);
    }

    #[test]
    fn pairs_hold_the_next_port_too() {
        let mut p = Ports::new(PortRange::parse("50000-50003").unwrap());
        let even = p.take_pair(|_| true).unwrap();
        assert_eq!(even % 2, 0);
        // The other pair is left; the held odd port is never handed out.
        let other = p.take_pair(|_| true).unwrap();
        assert_eq!(other % 2, 0);
        assert_ne!(other, even);
        assert_eq!(p.take(false, |_| true), None);
        p.release(even + 1);
        assert_eq!(p.take(false, |_| true), Some(even + 1));
        // A range ending on an even port has no pair there.
        let mut q = Ports::new(PortRange::parse("50000-50000").unwrap());
        assert_eq!(q.take_pair(|_| true), None);
    }

    #[test]
    fn consecutive_ports_are_not_predictable() {
        let mut p = Ports::new(PortRange::parse("49152-65535").unwrap());
        let ports: Vec<u16> = (0..20).map(|_| p.take(false, |_| true).unwrap()).collect();
        let sequential = ports.windows(2).filter(|w| w[1] == w[0] + 1).count();
        // A sequential allocator gives 19 of 19; random starts, almost never more than one.
        assert!(sequential <= 3, "{ports:?}");
    }

    #[test]
    fn parses_ranges() {
        assert_eq!(PortRange::parse("49152-65535").unwrap().len(), 16384);
        assert!(PortRange::parse("5-4").is_err());
        assert!(PortRange::parse("x").is_err());
    }
}
