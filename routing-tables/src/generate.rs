//! Synthetic rate decks for tests and benches (`trunkline snap gen`).
//!
//! The shape follows real wholesale decks: prefixes are E.164 country codes
//! weighted by traffic (NANP, China, India, the large European markets …)
//! followed by area/operator digits: NPA and NPA-NXX blocks for NANP, 0 to
//! 7 further digits elsewhere, so prefixes nest (`+44`, `+4420`,
//! `+44207`). Every country code is itself a rule in every group. Rules
//! point at a pool of target lists mixing carriers and gateways; a few
//! percent carry a business-hours window on top of an always-open rule,
//! on the destination's wall clock where the country has one main time
//! zone ([`country_zone`]; UTC otherwise). Deterministic for a given seed.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::format::ArchivedRoutingTable;
use crate::key;
use crate::lookup::GroupId;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Rule lines (exact).
    pub rules: usize,
    /// Gateways.
    pub gateways: usize,
    /// Seed.
    pub seed: u64,
}

/// (country code, weight, national significant number length).
const COUNTRIES: &[(&str, u32, u8)] = &[
    ("1", 30, 10),
    ("86", 9, 11),
    ("91", 9, 10),
    ("44", 8, 10),
    ("49", 7, 11),
    ("33", 6, 9),
    ("39", 5, 10),
    ("34", 4, 9),
    ("7", 4, 10),
    ("55", 4, 11),
    ("52", 3, 10),
    ("81", 3, 10),
    ("234", 3, 10),
    ("62", 3, 11),
    ("61", 2, 9),
    ("27", 2, 9),
    ("63", 2, 10),
    ("90", 2, 10),
    ("20", 2, 10),
    ("880", 2, 10),
    ("92", 2, 10),
    ("31", 2, 9),
    ("48", 2, 9),
    ("971", 1, 9),
    ("353", 1, 9),
    ("46", 1, 9),
    ("41", 1, 9),
    ("254", 1, 9),
    ("966", 1, 9),
    ("84", 1, 9),
];

/// The IANA time zone of a country code's main market, for the
/// business-hours windows (`None`: UTC).
fn country_zone(cc: &str) -> Option<&'static str> {
    Some(match cc {
        "1" => "America/New_York",
        "86" => "Asia/Shanghai",
        "91" => "Asia/Kolkata",
        "44" => "Europe/London",
        "49" => "Europe/Berlin",
        "33" => "Europe/Paris",
        "39" => "Europe/Rome",
        "34" => "Europe/Madrid",
        "7" => "Europe/Moscow",
        "55" => "America/Sao_Paulo",
        "52" => "America/Mexico_City",
        "81" => "Asia/Tokyo",
        "61" => "Australia/Sydney",
        _ => return None,
    })
}

/// Routing groups: name and whether its prefixes carry a `+`.
const GROUPS: &[(&str, bool, u32)] = &[
    ("retail", true, 5),
    ("wholesale", false, 3),
    ("premium", true, 2),
];

/// The deck's draws, from the workspace's one seeded RNG.
#[derive(Debug, Clone)]
pub struct Rng(fastrand::Rng);

impl Rng {
    /// Seeded: the same seed, the same deck.
    pub fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed ^ 0x5eed_0f7a_61e5))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.u64(..)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.u64(0..n)
    }

    fn digit(&mut self) -> char {
        char::from(b'0' + self.below(10) as u8)
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|i| i.1).sum();
        let mut pick = self.below(u64::from(total)) as u32;
        for &(t, w) in items {
            if pick < w {
                return t;
            }
            pick -= w;
        }
        items[0].0
    }
}

/// Writes `gateways.csv`, `carriers.csv`, `rules.csv`, `dialplan.csv` and
/// `acl.csv` into `dir`.
pub fn write_deck(cfg: &GenConfig, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(cfg.seed);
    let n_gw = cfg.gateways.max(1);
    let n_carriers = (n_gw / 4).max(1);

    let mut w = BufWriter::new(File::create(dir.join("gateways.csv"))?);
    writeln!(
        w,
        "id,address,transport,weight,probing,cps_cap,concurrent_cap,strip,prefix,attrs"
    )?;
    for i in 0..n_gw {
        let transport = ["udp", "udp", "udp", "tcp", "tls"][rng.below(5) as usize];
        let port = if transport == "tls" { 5061 } else { 5060 };
        let address = if i % 5 == 4 {
            format!("sbc{i}.carrier{}.example.net:{port}", i % 97)
        } else {
            format!(
                "10.{}.{}.{}:{port}",
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            )
        };
        writeln!(
            w,
            "gw{i:05},{address},{transport},{},{},{},{},{},{},{}",
            1 + rng.below(100),
            if rng.below(2) == 0 { "yes" } else { "no" },
            [0, 50, 100, 500][rng.below(4) as usize],
            [0, 200, 1000, 5000][rng.below(4) as usize],
            if i % 7 == 0 { 1 } else { 0 },
            if i % 11 == 0 { "00" } else { "" },
            if i % 3 == 0 { "tier=1" } else { "" },
        )?;
    }
    w.flush()?;

    let mut w = BufWriter::new(File::create(dir.join("carriers.csv"))?);
    writeln!(w, "id,gateways,order,use")?;
    for c in 0..n_carriers {
        let members = 1 + rng.below(4) as usize;
        let mut list = String::new();
        for m in 0..members {
            let g = (c * 4 + m * 7 + rng.below(3) as usize) % n_gw;
            if !list.contains(&format!("gw{g:05}")) {
                if !list.is_empty() {
                    list.push(';');
                }
                let _ = write!(list, "gw{g:05}");
            }
        }
        let order = if rng.below(5) < 2 {
            "weighted"
        } else {
            "ordered"
        };
        let used = if rng.below(5) == 0 { "first" } else { "all" };
        writeln!(w, "carrier{c:04},{list},{order},{used}")?;
    }
    w.flush()?;

    // A pool of target lists: 1-3 targets, carriers three times as often.
    let lists: Vec<String> = (0..1000)
        .map(|_| {
            let n = 1 + rng.below(3);
            let mut s = String::new();
            for i in 0..n {
                if i > 0 {
                    s.push(';');
                }
                if rng.below(4) == 0 {
                    let _ = write!(s, "gw{:05}", rng.below(n_gw as u64));
                } else {
                    let _ = write!(s, "carrier{:04}", rng.below(n_carriers as u64));
                }
            }
            s
        })
        .collect();
    let attrs = ["", "", "", "quality=a", "quality=b", "cli=required"];

    let mut w = BufWriter::with_capacity(1 << 20, File::create(dir.join("rules.csv"))?);
    writeln!(w, "group,prefix,targets,window,priority,attrs")?;
    let countries: Vec<((&str, u8), u32)> =
        COUNTRIES.iter().map(|&(c, wt, n)| ((c, n), wt)).collect();
    let groups: Vec<((&str, bool), u32)> = GROUPS.iter().map(|&(g, p, wt)| ((g, p), wt)).collect();
    let mut seen: HashSet<(u8, u64)> = HashSet::with_capacity(cfg.rules);
    let mut written = 0usize;
    let mut line = String::new();
    let emit = |w: &mut BufWriter<File>, line: &str, written: &mut usize| -> io::Result<bool> {
        if *written >= cfg.rules {
            return Ok(false);
        }
        w.write_all(line.as_bytes())?;
        *written += 1;
        Ok(true)
    };
    // Country codes first, in every group.
    'outer: for (gi, &(g, plus, _)) in GROUPS.iter().enumerate() {
        for &(cc, _, _) in COUNTRIES {
            seen.insert((gi as u8, key::encode(cc.as_bytes()).unwrap_or(0)));
            line.clear();
            let list = &lists[rng.below(lists.len() as u64) as usize];
            let _ = writeln!(line, "{g},{}{cc},{list},,10,", if plus { "+" } else { "" });
            if !emit(&mut w, &line, &mut written)? {
                break 'outer;
            }
        }
    }
    let mut attempts = 0u64;
    while written < cfg.rules {
        attempts += 1;
        if attempts > 50 * cfg.rules as u64 + 1000 {
            return Err(io::Error::other("prefix space exhausted"));
        }
        let (g, plus) = rng.weighted(&groups);
        let gi = GROUPS.iter().position(|x| x.0 == g).unwrap_or(0) as u8;
        let (cc, nsn) = rng.weighted(&countries);
        let mut digits = String::with_capacity(16);
        digits.push_str(cc);
        if cc == "1" {
            // NPA, NPA-NXX or NPA-NXX-X blocks.
            let k = [3, 6, 6, 6, 7][rng.below(5) as usize];
            digits.push(char::from(b'2' + rng.below(8) as u8));
            for _ in 1..k {
                digits.push(rng.digit());
            }
        } else {
            let k = [1, 2, 3, 3, 4, 4, 5, 5, 6, 7][rng.below(10) as usize].min(nsn as usize);
            digits.push(char::from(b'1' + rng.below(9) as u8));
            for _ in 1..k {
                digits.push(rng.digit());
            }
        }
        let k = key::encode(digits.as_bytes()).unwrap_or(0);
        if !seen.insert((gi, k)) {
            continue;
        }
        let p = if plus { "+" } else { "" };
        let list = &lists[rng.below(lists.len() as u64) as usize];
        let attr = attrs[rng.below(attrs.len() as u64) as usize];
        line.clear();
        let _ = writeln!(line, "{g},{p}{digits},{list},,10,{attr}");
        if rng.below(33) == 0 {
            // Business-hours override at a better priority.
            let list = &lists[rng.below(lists.len() as u64) as usize];
            let zone = country_zone(cc).map_or(String::new(), |z| format!(" {z}"));
            let _ = writeln!(
                line,
                "{g},{p}{digits},{list},mon-fri 08:00-18:00{zone},5,peak"
            );
            if written + 2 > cfg.rules {
                continue;
            }
            w.write_all(line.as_bytes())?;
            written += 2;
            continue;
        }
        if !emit(&mut w, &line, &mut written)? {
            break;
        }
    }
    w.flush()?;

    let mut w = BufWriter::new(File::create(dir.join("dialplan.csv"))?);
    writeln!(w, "group,match,pattern,replace,priority")?;
    writeln!(w, "retail,prefix,00,+,10")?;
    writeln!(w, "retail,prefix,011,+,10")?;
    writeln!(w, "retail,regex,\"^0([1-9][0-9]{{6,}})$\",+44$1,20")?;
    writeln!(w, "wholesale,prefix,+,,10")?;
    writeln!(w, "wholesale,prefix,00,,10")?;
    writeln!(w, "premium,prefix,00,+,10")?;
    w.flush()?;

    let mut w = BufWriter::new(File::create(dir.join("acl.csv"))?);
    writeln!(w, "cidr,group")?;
    for (i, (g, _, _)) in GROUPS.iter().enumerate() {
        writeln!(w, "172.{}.0.0/16,{g}", 16 + i)?;
        writeln!(w, "2001:db8:{i}::/48,{g}")?;
    }
    writeln!(w, "172.16.5.0/24,premium")?;
    w.flush()?;
    Ok(())
}

/// Numbers for benches: `count` dialled numbers in `group` that each start
/// with a random prefix of the table and are completed with random digits
/// to 11-13 digits (so lookups hit a rule, mostly a long one).
pub fn sample_numbers(
    table: &ArchivedRoutingTable,
    group: GroupId,
    count: usize,
    seed: u64,
) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count);
    for plus in [1usize, 0] {
        let Some(ns) = table.namespaces.get(group.0 as usize * 2 + plus) else {
            continue;
        };
        let (a, b) = (ns.start.to_native() as usize, ns.end.to_native() as usize);
        if a == b {
            continue;
        }
        while out.len() < count {
            let i = a + rng.below((b - a) as u64) as usize;
            let mut s = String::from(if plus == 1 { "+" } else { "" });
            key::decode_into(
                table.entries[i].key.to_native(),
                usize::from(table.entries[i].len),
                &mut s,
            );
            let target = 11 + rng.below(3) as usize + plus;
            while s.len() < target {
                s.push(rng.digit());
            }
            out.push(s);
        }
        break;
    }
    out
}
