//! Per-address admission of inbound connections: the address key (an IPv6
//! /64 counts as one address), pending-handshake shedding (idle first, at
//! random, the busiest address first, protected peers' last).

use std::collections::HashMap;
use std::sync::Arc;

use super::{ms, Endpoint};
use crate::conn::{Conn, Handshake, HandshakeFailure, Role};
use crate::error::EndpointError;
use crate::session::State;
use crate::timers::{ConnTimer, Timer};

/// The key the per-address limits count under: an IPv6 address stands for
/// its /64 (one host or site usually holds a whole /64, so counting single
/// addresses would let it open as many sessions as it likes), an
/// IPv4-mapped IPv6 address for its IPv4 address, IPv4 for itself. Text
/// that is not an IP address (a test pipe's name) is its own key.
pub fn address_key(addr: &str) -> String {
    use std::net::IpAddr;
    let bare = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    // A zone (fe80::1%eth0) names an interface, not another host.
    let bare = bare.split('%').next().unwrap_or(bare);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
        Err(_) => addr.to_string(),
    }
}

impl Endpoint {
    /// A new inbound connection (the driver accepted a socket), address unknown.
    pub fn conn_accept(&mut self, now: u64) -> Result<u32, EndpointError> {
        self.conn_accept_from(now, "")
    }

    /// A new inbound connection from remote address `addr` (any stable text,
    /// e.g. the IP; "" if unknown, then only the node-wide limits apply).
    /// Beyond `max_pending_handshakes_per_address` one of that address's
    /// pending handshakes is shed, beyond `max_pending_handshakes` one of the
    /// address holding the most: an idle one (no byte received) at random if
    /// there is one, else any at random. A slow legitimate handshake from
    /// another address is therefore never the one shed by a flood.
    pub fn conn_accept_from(&mut self, now: u64, addr: &str) -> Result<u32, EndpointError> {
        self.check_running()?;
        let tls = rustls::server::UnbufferedServerConnection::new(self.server_cfg.clone())
            .map_err(EndpointError::Tls)?;
        let id = self.conn_id();
        let mut c = Box::new(Conn::new(Handshake::Server(tls), Role::Server, now));
        let addr = address_key(addr);
        c.addr = Arc::from(addr.as_str());
        self.conns.insert(id, c);
        let hs = now.saturating_add(ms(self.cfg.handshake_timeout_ms));
        self.timers.set(Timer::Conn(id, ConnTimer::Handshake), hs);
        let hello = now.saturating_add(ms(self.cfg.client_hello_timeout_ms));
        self.timers
            .set(Timer::Conn(id, ConnTimer::ClientHello), hello);
        self.pending.push_back(id);
        if !addr.is_empty()
            && self.pending_from(&addr) > self.cfg.max_pending_handshakes_per_address
        {
            self.shed_pending(
                &addr,
                now,
                "too many handshakes in flight from this address",
            );
        }
        while self.pending.len() > self.cfg.max_pending_handshakes {
            let busiest = self.busiest_pending_address();
            self.shed_pending(&busiest, now, "too many handshakes in flight");
        }
        Ok(id)
    }

    /// Pending inbound handshakes from `addr` (an [`address_key`]).
    pub fn pending_from(&self, addr: &str) -> usize {
        let addr = address_key(addr);
        let addr = addr.as_str();
        self.pending
            .iter()
            .filter(|p| self.conns.get(p).is_some_and(|c| &*c.addr == addr))
            .count()
    }

    /// Live (not closed) inbound sessions from `addr`.
    pub fn sessions_from(&self, addr: &str) -> usize {
        let addr = address_key(addr);
        let addr = addr.as_str();
        self.sessions
            .values()
            .filter(|s| s.state != State::Closed && &*s.addr == addr)
            .count()
    }

    pub(crate) fn busiest_pending_address(&mut self) -> String {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for p in &self.pending {
            if let Some(c) = self.conns.get(p) {
                *counts.entry(&c.addr).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(a, _)| a.to_string())
            .unwrap_or_default()
    }

    /// Sheds one pending handshake of `addr`: idle first, at random.
    pub(crate) fn shed_pending(&mut self, addr: &str, now: u64, why: &str) {
        // A connection whose TLS handshake authenticated a peer holding a
        // protected session (its resumption, most likely) is shed last.
        let of_addr: Vec<(u32, bool)> =
            self.pending
                .iter()
                .filter_map(|p| {
                    let c = self.conns.get(p)?;
                    let trusted = !c.peer_fp.is_empty()
                        && self.sessions.values().any(|s| {
                            s.protected && s.state != State::Closed && s.peer_fp == c.peer_fp
                        });
                    (&*c.addr == addr && !trusted).then_some((*p, c.got_input))
                })
                .collect();
        let of_addr = if of_addr.is_empty() {
            self.pending
                .iter()
                .filter_map(|p| {
                    let c = self.conns.get(p)?;
                    (&*c.addr == addr).then_some((*p, c.got_input))
                })
                .collect()
        } else {
            of_addr
        };
        let idle: Vec<u32> = of_addr.iter().filter(|p| !p.1).map(|p| p.0).collect();
        let pool: Vec<u32> = if idle.is_empty() {
            of_addr.iter().map(|p| p.0).collect()
        } else {
            idle
        };
        if pool.is_empty() {
            // Unreachable while the counts hold; never loop on it.
            if let Some(old) = self.pending.pop_front() {
                self.end_conn(old, None, now);
            }
            return;
        }
        let victim = pool[self.rng.below(pool.len() as u64) as usize];
        self.pending.retain(|p| *p != victim);
        self.shed += 1;
        self.diagnostic(HandshakeFailure::new(
            "TOO_MANY_HANDSHAKES",
            format!("Pending handshake shed: {why}"),
        ));
        self.end_conn(victim, None, now);
    }
}
