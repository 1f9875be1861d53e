//! Interop with coturn's own client tools (Debian package `coturn`): `turnutils_stunclient`
//! sends a Binding, `turnutils_uclient` drives allocations, permissions, channels and Send/Data
//! indications over UDP and TCP, IPv4 and IPv6, with static and TURN REST credentials, against
//! `turnutils_peer` (a UDP echo peer) or client to client (`-y`). uclient's closing lines
//! (message counts, lost packets) must show every message relayed and none lost.
//!
//! The tools are required: when one is missing the test fails and says how to install it.
//!
//! coturn's client uses RFC 5766 channel numbers (up to 0x7FFF), never frees its allocations and
//! makes two per client outside `-y` mode, so the servers here run with `--turn-rfc5766-channels`,
//! raised quotas and a relay port range of their own (each test a distinct one in 42000-47999).
//! Peers on loopback need `--turn-allow-loopback-peers`, except in the test that checks the
//! default denies them. Every child process wait is bounded and the process killed on timeout.

use std::time::Duration;

#[path = "common/coturn.rs"]
mod coturn;

use coturn::*;

/// The relay runs with the standard load.
fn load<'a>(name: &'a str, flags: &'a [&'a str], cred: Cred<'a>, peer: Option<(&'a str, u16)>, server: &'a str) -> Run<'a> {
    Run { name, flags, cred, peer, server, clients: CLIENTS, messages: MESSAGES, rtcp: false }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// `turnutils_stunclient` sends a Binding over UDP, to the IPv4 and to the IPv6 listener, and
/// gets its own address back (XOR-MAPPED-ADDRESS): loopback, its own port, not the server's.
#[test]
fn stunclient_binding_gets_the_reflexive_address() {
    let dir = temp_dir("binding");
    let turn = Turn::start(&dir, (42000, 42099), true, &[]);
    for (i, server) in ["127.0.0.1", "::1"].into_iter().enumerate() {
        let out = dir.join(format!("stunclient-{i}.log"));
        let mut p = spawn_tool("turnutils_stunclient", &["-p".into(), turn.port.to_string(), server.into()], &out);
        let status = wait_bounded(&mut p, FAIL_TIMEOUT);
        let output = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(status.is_some_and(|s| s.success()), "turnutils_stunclient {server}: {status:?}:\n{output}");
        // `0: : IPv4. UDP reflexive addr: 127.0.0.1:PORT` (IPv6 without brackets: `::1:PORT`)
        let (ip, port) = output
            .lines()
            .find_map(|l| l.split_once("UDP reflexive addr: "))
            .and_then(|(_, a)| a.trim().rsplit_once(':'))
            .unwrap_or_else(|| panic!("no reflexive address from {server} in:\n{output}"));
        assert_eq!(ip, server, "{output}");
        let port: u16 = port.parse().unwrap_or_else(|e| panic!("port {port:?}: {e}"));
        assert_ne!(port, 0, "{output}");
        assert_ne!(port, turn.port, "the client's port, not the server's: {output}");
    }
}

/// Static credentials (`-w`) through `turnutils_peer`: UDP and TCP to the server, channels and
/// Send indications; and ChannelData padded to 4 bytes over UDP too (`-D`, as pjnath does) with
/// DONT-FRAGMENT in the Allocate (`-g`).
#[test]
fn uclient_static_credentials_udp_tcp_channels_and_send() {
    let dir = temp_dir("static");
    let turn = Turn::start(&dir, (42100, 42599), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Static(USER, PASS);
    let runs = [
        load("udp-channels", &["-X"], cred, peer, "127.0.0.1"),
        load("udp-send", &["-X", "-s"], cred, peer, "127.0.0.1"),
        load("tcp-channels", &["-X", "-t"], cred, peer, "127.0.0.1"),
        load("tcp-send", &["-X", "-t", "-s"], cred, peer, "127.0.0.1"),
        load("udp-padded-channels-dont-fragment", &["-X", "-D", "-g"], cred, peer, "127.0.0.1"),
    ];
    for (r, o) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}

/// TURN REST credentials (`-W SECRET`, uclient mints `<expiry>:user` and its HMAC): UDP and TCP,
/// channels and Send indications.
#[test]
fn uclient_rest_credentials_udp_tcp_channels_and_send() {
    let dir = temp_dir("rest");
    let turn = Turn::start(&dir, (43000, 43999), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Rest("rest-user", SECRET);
    let runs = [
        load("rest-udp-channels", &["-X"], cred, peer, "127.0.0.1"),
        load("rest-udp-send", &["-X", "-s"], cred, peer, "127.0.0.1"),
        load("rest-tcp-channels", &["-X", "-t"], cred, peer, "127.0.0.1"),
        load("rest-tcp-send", &["-X", "-t", "-s"], cred, peer, "127.0.0.1"),
    ];
    for (r, o) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}

/// Client to client (`-y`): pairs of uclient sessions relay to each other's relay addresses,
/// over UDP and TCP, with channels and with Send indications, static and REST credentials.
#[test]
fn uclient_client_to_client() {
    let dir = temp_dir("c2c");
    let turn = Turn::start(&dir, (44000, 44999), false, &["--turn-allow-loopback-peers", "true"]);
    let runs = [
        load("y-udp-channels", &["-X", "-y"], Cred::Static(USER, PASS), None, "127.0.0.1"),
        load("y-udp-send", &["-X", "-y", "-s"], Cred::Static(USER, PASS), None, "127.0.0.1"),
        load("y-tcp-channels-rest", &["-X", "-y", "-t"], Cred::Rest("rest-user", SECRET), None, "127.0.0.1"),
        load("y-tcp-send-rest", &["-X", "-y", "-t", "-s"], Cred::Rest("rest-user", SECRET), None, "127.0.0.1"),
    ];
    for (r, o) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}

/// IPv6 (RFC 6156): uclient dials the server on ::1 and asks for an IPv6 relay (`-x`) to a peer
/// on ::1, over UDP and TCP; and the two cross-family cases: an IPv6 client with an IPv4 relay,
/// an IPv4 client with an IPv6 relay.
#[test]
fn uclient_over_ipv6() {
    let dir = temp_dir("v6");
    let turn = Turn::start(&dir, (45000, 45999), true, &["--turn-allow-loopback-peers", "true"]);
    let (_peer6, pport6) = start_peer(&dir, "::1");
    let (_peer4, pport4) = start_peer(&dir, "127.0.0.1");
    let cred = Cred::Static(USER, PASS);
    let runs = [
        load("v6-udp-channels", &["-x"], cred, Some(("::1", pport6)), "::1"),
        load("v6-tcp-send", &["-x", "-t", "-s"], cred, Some(("::1", pport6)), "::1"),
        load("v6-y-udp-rest", &["-x", "-y"], Cred::Rest("rest-user", SECRET), None, "::1"),
        load("v6-client-v4-relay", &["-X"], cred, Some(("127.0.0.1", pport4)), "::1"),
        load("v4-client-v6-relay", &["-x", "-t"], cred, Some(("::1", pport6)), "127.0.0.1"),
    ];
    let families = [6, 6, 6, 4, 6];
    for ((r, o), fam) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)).zip(families) {
        assert_clean(&turn, r, &o, fam);
    }
}

/// Without `--turn-allow-loopback-peers`, the 127.0.0.1 peer is refused: ChannelBind and
/// CreatePermission get 403, over UDP and TCP, and uclient gives up without relaying anything.
#[test]
fn loopback_peer_is_refused_by_default() {
    let dir = temp_dir("deny");
    let turn = Turn::start(&dir, (46000, 46199), false, &[]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Static(USER, PASS);
    let small = |name, flags| Run { name, flags, cred, peer, server: "127.0.0.1", clients: 1, messages: 20, rtcp: false };
    let runs = [
        small("deny-udp-channels", &["-X"]),
        small("deny-udp-send", &["-X", "-s"]),
        small("deny-tcp-channels", &["-X", "-t"]),
        small("deny-tcp-send", &["-X", "-t", "-s"]),
    ];
    let expected = [
        "channel bind: error 403 (Forbidden)",
        "create permission error 403 (Forbidden)",
        "channel bind: error 403 (Forbidden)",
        "create permission error 403 (Forbidden)",
    ];
    for ((_, o), want) in runs.iter().zip(run_all(&dir, turn.port, &runs, FAIL_TIMEOUT)).zip(expected) {
        assert!(o.status.is_some(), "killed on timeout: {}", o.context());
        assert!(!o.ok(), "relaying to a loopback peer must fail by default: {}", o.context());
        assert!(o.output.contains(want), "expected `{want}`: {}", o.context());
        // The allocation itself succeeded (so the refusal is the peer policy, not auth).
        assert!(!o.relays().is_empty(), "the Allocate should have succeeded: {}", o.context());
        if let Some((_, recv)) = o.counts() {
            assert_eq!(recv, 0, "nothing may come back from a refused peer: {}", o.context());
        }
    }
}

/// A wrong password and a wrong REST secret are refused (uclient cannot complete the Allocate),
/// while the right ones work against the same server.
#[test]
fn wrong_password_and_wrong_secret_fail() {
    let dir = temp_dir("badcred");
    let turn = Turn::start(&dir, (46500, 46999), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let small = |name, flags, cred| Run { name, flags, cred, peer, server: "127.0.0.1", clients: 1, messages: 20, rtcp: false };
    let bad = [
        small("bad-password-udp", &["-X"], Cred::Static(USER, "not-the-password")),
        small("bad-password-tcp", &["-X", "-t"], Cred::Static(USER, "not-the-password")),
        small("unknown-user", &["-X"], Cred::Static("nobody", PASS)),
        small("bad-secret-udp", &["-X"], Cred::Rest("rest-user", "not-the-secret")),
        small("bad-secret-tcp", &["-X", "-t"], Cred::Rest("rest-user", "not-the-secret")),
    ];
    let good = [
        small("good-password", &["-X"], Cred::Static(USER, PASS)),
        small("good-secret", &["-X"], Cred::Rest("rest-user", SECRET)),
    ];
    let outcomes = run_all(&dir, turn.port, &bad, FAIL_TIMEOUT);
    for o in &outcomes {
        assert!(o.status.is_some(), "killed on timeout: {}", o.context());
        assert!(!o.ok(), "wrong credentials must be refused: {}", o.context());
        assert!(o.output.contains("Cannot complete Allocation"), "{}", o.context());
        assert!(o.relays().is_empty(), "no relay may be allocated: {}", o.context());
    }
    for (r, o) in good.iter().zip(run_all(&dir, turn.port, &good, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}

/// Without `-c` uclient allocates RTP/RTCP pairs as a media client would: the RTP Allocate asks
/// EVEN-PORT with the R bit, the RTCP one names the RESERVATION-TOKEN it got back and must get
/// the next port. Over UDP and TCP, with the echo peer and client to client.
#[test]
fn uclient_rtp_rtcp_pairs_use_even_ports_and_reservation_tokens() {
    let dir = temp_dir("rtcp");
    let turn = Turn::start(&dir, (47000, 47999), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Static(USER, PASS);
    let pairs = |name, flags, peer| Run { rtcp: true, ..load(name, flags, cred, peer, "127.0.0.1") };
    let runs = [
        pairs("rtcp-udp-channels", &["-X"], peer),
        pairs("rtcp-tcp-send", &["-X", "-t", "-s"], peer),
        pairs("rtcp-y-udp", &["-X", "-y"], None),
    ];
    for (r, o) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
        // uclient allocates sequentially and prints each relay address: every RTCP (odd) relay
        // comes right after its RTP (even) twin on the port below.
        let ports: Vec<u16> = o.relays().iter().map(|a| a.port()).collect();
        assert!(ports.iter().any(|p| p % 2 == 1), "no RTCP allocation in {ports:?}: {}", o.context());
        for (i, p) in ports.iter().enumerate() {
            if p % 2 == 1 {
                assert!(i > 0 && ports[i - 1] == p - 1, "RTCP relay {p} does not follow its RTP twin in {ports:?}");
            }
        }
    }
}

/// With `-I` uclient installs no permissions, and with `-s` no channels either: its Send
/// indications must not reach the peer, so nothing comes back (a permission-less relay would be
/// an open proxy).
#[test]
fn without_permissions_nothing_is_relayed() {
    let dir = temp_dir("noperm");
    let turn = Turn::start(&dir, (46200, 46499), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let run = Run {
        name: "no-permissions-send",
        flags: &["-X", "-I", "-s"],
        cred: Cred::Static(USER, PASS),
        peer: Some(("127.0.0.1", pport)),
        server: "127.0.0.1",
        clients: 1,
        messages: 20,
        rtcp: false,
    };
    let o = run_uclient(&dir, turn.port, &run, UCLIENT_TIMEOUT);
    assert!(o.status.is_some(), "killed on timeout: {}", o.context());
    assert!(!o.relays().is_empty(), "the Allocate should have succeeded: {}", o.context());
    assert!(!o.output.contains("create perm sent"), "-I should send no CreatePermission: {}", o.context());
    let (sent, recv) = o.counts().unwrap_or_else(|| panic!("no message counts: {}", o.context()));
    assert_eq!((sent, recv), (20, 0), "sent/received: {}", o.context());
    assert_eq!(o.loss().map(|l| l.0), Some(20), "{}", o.context());
}

/// uclient's own abuse modes against one server: `-N` (random channel numbers), `-R` (corrupts
/// about one message in ten at random bytes; uclient may then wait forever, so it is killed), `-O`
/// (allocates and leaves at once). Afterwards the same server still relays a clean run with
/// zero loss.
#[test]
fn negative_and_corrupting_clients_leave_the_server_working() {
    let dir = temp_dir("negative");
    let turn = Turn::start(&dir, (42600, 42999), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Static(USER, PASS);
    let abuse = |name, flags| Run { name, flags, cred, peer, server: "127.0.0.1", clients: 4, messages: 50, rtcp: false };
    let runs = [
        abuse("negative-channels", &["-X", "-N"]),
        abuse("corrupting-udp", &["-X", "-R"]),
        abuse("corrupting-tcp", &["-X", "-t", "-R"]),
        abuse("dos", &["-X", "-O"]),
    ];
    // Their outcome is not the point (and -R is random); only that they end or are killed.
    let _ = run_all(&dir, turn.port, &runs, Duration::from_secs(6));
    let clean = [load("after-abuse", &["-X"], cred, peer, "127.0.0.1")];
    for (r, o) in clean.iter().zip(run_all(&dir, turn.port, &clean, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}
