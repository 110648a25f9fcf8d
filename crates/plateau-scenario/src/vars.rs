//! `{{name}}` templates and per-candidate variants.
//!
//! Variants are drawn deterministically from (session seed, variable name,
//! candidate position): the same seed always gives the same platforms, and
//! within one session the values of `pick`, `subnet_in` and `range` variants
//! are all different between candidates as long as there are enough values,
//! so two neighbours cannot copy each other's answers.

use std::net::Ipv4Addr;
use std::ops::Range;

use ipnet::Ipv4Net;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::model::Variant;

/// One candidate of a session: an id (stable, from the roster), a display
/// name, and a position (0-based) that variants use to stay distinct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub index: usize,
    /// The engine the roster places them on (a centre with several).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

impl Candidate {
    /// `c01`, `c02`, ... for sessions without a roster.
    pub fn numbered(count: usize) -> Vec<Candidate> {
        let width = count.to_string().len().max(2);
        (0..count)
            .map(|i| Candidate {
                id: format!("c{:0width$}", i + 1),
                name: format!("Candidat {}", i + 1),
                index: i,
                engine: None,
            })
            .collect()
    }
}

/// A `{{ name }}` reference inside a text: the name and its byte range (braces included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    pub name: String,
    pub range: Range<usize>,
}

/// Every `{{ name }}` in `text`; an unclosed `{{` is an error at its offset.
pub fn template_refs(text: &str) -> Result<Vec<TemplateRef>, usize> {
    let mut refs = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{") {
        let start = rest + open;
        let Some(close) = text[start + 2..].find("}}") else {
            return Err(start);
        };
        let end = start + 2 + close + 2;
        refs.push(TemplateRef { name: text[start + 2..end - 2].trim().to_string(), range: start..end });
        rest = end;
    }
    Ok(refs)
}

/// Replace every `{{ name }}` with `lookup(name)`; the first unknown name is the error.
pub fn render(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let refs = template_refs(text).map_err(|_| "{{".to_string())?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in refs {
        out.push_str(&text[last..r.range.start]);
        out.push_str(&lookup(&r.name).ok_or(r.name)?);
        last = r.range.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// Deterministic bytes for (seed, variable, salt).
fn digest(seed: &str, variable: &str, salt: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [seed, variable, salt] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

fn number(seed: &str, variable: &str, salt: &str) -> u64 {
    let d = digest(seed, variable, salt);
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The candidate's position mapped through a session-wide bijection of
/// `0..size`: distinct positions get distinct values while they fit.
fn spread(seed: &str, variable: &str, index: usize, size: u64) -> u64 {
    let offset = number(seed, variable, "offset") % size;
    let mut stride = number(seed, variable, "stride") % size;
    while gcd(stride, size) != 1 {
        stride += 1;
    }
    (offset + (index as u64 % size) * stride) % size
}

/// Carving `prefix`-long subnets out of `block`: how many there are.
pub fn subnet_count(block: Ipv4Net, prefix: u8) -> Option<u64> {
    (prefix >= block.prefix_len() && prefix <= 32).then(|| 1u64 << (prefix - block.prefix_len()))
}

/// What a session's draw keeps clear of: the subnets that other sessions and
/// other networks hold on the engine, and how many candidates share the draw;
/// and the session's secret.
#[derive(Debug, Clone, Copy, Default)]
pub struct Around<'a> {
    pub taken: &'a [Ipv4Net],
    pub candidates: usize,
    /// Mixed into the draw of secrets only (passwords, WireGuard keys): a
    /// candidate who knows the scenario and the seed (the session's name
    /// by default, on their sheet) cannot draw another candidate's password.
    /// Empty for a preview (`plateau plan`).
    pub secret: &'a str,
}

impl Around<'_> {
    /// The seed secrets are drawn from.
    fn secret_seed(&self, seed: &str) -> String {
        if self.secret.is_empty() { seed.to_string() } else { format!("{seed}\0{}", self.secret) }
    }
}

/// Whether two subnets share an address.
pub fn overlap(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A variant's value for one candidate. The spec must have been validated
/// (exactly one generator, well-formed parameters).
pub fn draw(spec: &Variant, seed: &str, variable: &str, candidate: &Candidate, around: Around) -> String {
    if let Some(values) = &spec.pick {
        let k = spread(seed, variable, candidate.index, values.len() as u64);
        return values[k as usize].clone();
    }
    if let (Some(block), Some(prefix)) = (&spec.subnet_in, spec.prefix) {
        let block: Ipv4Net = block.parse().expect("validated subnet_in");
        let count = subnet_count(block, prefix).expect("validated prefix");
        let carve = |position: usize| {
            let k = spread(seed, variable, position, count);
            let base = u32::from(block.network()) as u64 + (k << (32 - prefix as u64));
            Ipv4Net::new(Ipv4Addr::from(base as u32), prefix).expect("validated prefix")
        };
        // The candidate's own positions i, i + n, i + 2n…: the first subnet no
        // other network on the engine holds. Another session's network moves
        // only the candidate whose subnet it holds, never a neighbour's.
        let step = around.candidates.max(1);
        let subnet = (candidate.index..count as usize)
            .step_by(step)
            .map(carve)
            .find(|net| !around.taken.iter().any(|t| overlap(t, net)))
            .unwrap_or_else(|| carve(candidate.index));
        return subnet.to_string();
    }
    if let Some([low, high]) = spec.range {
        let size = (high - low) as u64 + 1;
        return (low + spread(seed, variable, candidate.index, size) as i64).to_string();
    }
    if let Some(prefix) = &spec.mac_prefix {
        let bytes = digest(seed, variable, &candidate.id);
        let have = prefix.split(':').count();
        let tail: Vec<String> = bytes.iter().take(6 - have).map(|b| format!("{b:02x}")).collect();
        return format!("{}:{}", prefix.to_lowercase(), tail.join(":"));
    }
    if let Some(length) = spec.password {
        return password(&digest(&around.secret_seed(seed), variable, &candidate.id), length as usize);
    }
    if spec.wireguard_keypair == Some(true) {
        return wireguard_keypair(seed, variable, candidate, around).1;
    }
    unreachable!("a validated variant has a generator")
}

/// A WireGuard key pair `(private, public)`, base64 as `wg genkey` and
/// `wg pubkey` print them: the private key is the (clamped) digest of the
/// seed, the variable and the candidate, so a session's plans stay
/// reproducible and each candidate's key is their own.
pub fn wireguard_keypair(seed: &str, variable: &str, candidate: &Candidate, around: Around) -> (String, String) {
    use base64::Engine;
    let mut private = digest(&around.secret_seed(seed), &format!("{variable}.wireguard"), &candidate.id);
    private[0] &= 248;
    private[31] = (private[31] & 127) | 64;
    let public = curve25519_dalek::montgomery::MontgomeryPoint::mul_base_clamped(private).to_bytes();
    let b64 = base64::engine::general_purpose::STANDARD;
    (b64.encode(private), b64.encode(public))
}

/// A password that satisfies Active Directory's default complexity rule
/// (upper, lower, digit) and avoids characters misread on a printed sheet.
fn password(seed: &[u8; 32], length: usize) -> String {
    const LOWER: &[u8] = b"abcdefghjkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const ALL: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut stream = Vec::new();
    let mut block = *seed;
    while stream.len() < length {
        block = Sha256::digest(block).into();
        stream.extend_from_slice(&block);
    }
    (0..length)
        .map(|i| {
            let set = match i {
                0 => UPPER,
                1 => LOWER,
                2 => DIGIT,
                _ => ALL,
            };
            set[stream[i] as usize % set.len()] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wireguard_key_pair_is_a_real_one_of_its_candidate_alone() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        // RFC 7748, 6.1: Alice's key pair, as `wg pubkey` would print it.
        let alice: [u8; 32] = b64.decode("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=").unwrap().try_into().unwrap();
        let public = curve25519_dalek::montgomery::MontgomeryPoint::mul_base_clamped(alice).to_bytes();
        assert_eq!(b64.encode(public), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
        let all = candidates(3);
        let pairs: Vec<(String, String)> =
            all.iter().map(|c| wireguard_keypair("s", "vpn", c, Around::default())).collect();
        for (private, public) in &pairs {
            let key: [u8; 32] = b64.decode(private).unwrap().try_into().unwrap();
            assert_eq!((key[0] & 7, key[31] & 0xc0), (0, 0x40), "clamped as wg genkey does");
            let derived = curve25519_dalek::montgomery::MontgomeryPoint::mul_base_clamped(key).to_bytes();
            assert_eq!(&b64.encode(derived), public);
        }
        assert_ne!(pairs[0], pairs[1], "each candidate has their own");
        assert_eq!(
            pairs[0],
            wireguard_keypair("s", "vpn", &all[0], Around::default()),
            "the same seed gives the same key"
        );
    }

    /// The seed is public (the session's name by default, on every sheet):
    /// a session's passwords and keys need its secret too; nothing else does.
    #[test]
    fn secrets_are_drawn_with_the_session_secret_and_nothing_else_is() {
        let c = &candidates(2)[1];
        let password = Variant { password: Some(12), ..Default::default() };
        let range = Variant { range: Some([1, 1000]), ..Default::default() };
        let preview = Around::default();
        let session = Around { secret: "k", ..Default::default() };
        let other = Around { secret: "l", ..Default::default() };
        assert_ne!(draw(&password, "s", "pw", c, preview), draw(&password, "s", "pw", c, session));
        assert_ne!(draw(&password, "s", "pw", c, session), draw(&password, "s", "pw", c, other));
        assert_eq!(draw(&password, "s", "pw", c, session), draw(&password, "s", "pw", c, session));
        assert_ne!(wireguard_keypair("s", "vpn", c, preview), wireguard_keypair("s", "vpn", c, session));
        assert_eq!(draw(&range, "s", "n", c, preview), draw(&range, "s", "n", c, session));
    }

    fn candidates(n: usize) -> Vec<Candidate> {
        Candidate::numbered(n)
    }

    #[test]
    fn pick_gives_neighbours_distinct_values_while_they_last() {
        let spec = Variant { pick: Some((1..=8).map(|i| format!("u{i}")).collect()), ..Default::default() };
        let values: Vec<String> =
            candidates(8).iter().map(|c| draw(&spec, "s", "user", c, Around::default())).collect();
        let mut unique = values.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{values:?}");
    }

    #[test]
    fn subnets_are_carved_inside_the_block_and_distinct() {
        let spec = Variant { subnet_in: Some("10.20.0.0/16".into()), prefix: Some(24), ..Default::default() };
        let block: Ipv4Net = "10.20.0.0/16".parse().unwrap();
        let values: Vec<Ipv4Net> =
            candidates(16).iter().map(|c| draw(&spec, "seed", "lan", c, Around::default()).parse().unwrap()).collect();
        assert!(values.iter().all(|n| block.contains(n) && n.prefix_len() == 24));
        let mut unique = values.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 16);
    }

    #[test]
    fn subnets_held_on_the_engine_move_only_the_candidate_that_drew_them() {
        let spec = Variant { subnet_in: Some("10.20.0.0/16".into()), prefix: Some(24), ..Default::default() };
        let room = candidates(16);
        let drawn = |taken: &[Ipv4Net]| -> Vec<Ipv4Net> {
            let around = Around { taken, candidates: room.len(), secret: "" };
            room.iter().map(|c| draw(&spec, "seed", "lan", c, around).parse().unwrap()).collect()
        };
        let free = drawn(&[]);
        // Another session holds candidate 3's subnet, and a wider network c07's.
        let wide = Ipv4Net::new(free[7].network(), 23).unwrap().trunc();
        let taken = [free[3], wide];
        let moved = drawn(&taken);
        for (i, (before, after)) in free.iter().zip(&moved).enumerate() {
            assert!(!taken.iter().any(|t| overlap(t, after)), "c{i} drew {after}, held on the engine");
            if ![3, 7].contains(&i) && !overlap(&wide, before) {
                assert_eq!(before, after, "c{i} kept its subnet");
            }
        }
        let mut unique = moved.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 16, "still one subnet each: {moved:?}");
        assert_eq!(moved, drawn(&taken), "the same engine gives the same plans");
    }

    #[test]
    fn passwords_meet_complexity() {
        let spec = Variant { password: Some(12), ..Default::default() };
        for c in candidates(20) {
            let p = draw(&spec, "seed", "pw", &c, Around::default());
            assert_eq!(p.len(), 12);
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn macs_keep_their_prefix() {
        let spec = Variant { mac_prefix: Some("02:50:00".into()), ..Default::default() };
        let mac = draw(&spec, "seed", "mac", &candidates(1)[0], Around::default());
        assert!(mac.starts_with("02:50:00:"));
        assert_eq!(mac.split(':').count(), 6);
    }

    #[test]
    fn render_replaces_and_reports_unknown_names() {
        let lookup = |n: &str| (n == "a").then(|| "1".to_string());
        assert_eq!(render("x{{ a }}y{{a}}", &lookup).unwrap(), "x1y1");
        assert_eq!(render("{{ b }}", &lookup).unwrap_err(), "b");
        assert_eq!(template_refs("ok {{ open"), Err(3));
    }
}
