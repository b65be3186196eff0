//! The JSON-lines CDR sink end to end: 1,000 records through
//! [`CdrWriter`] into a directory, rotated by size, every line a record,
//! every record once, no file left open after shutdown.

#![cfg(feature = "runtime")]

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use trunkline_engine::cdr::{Attempt, Cdr, CdrConfig, CdrWriter, Hangup};

fn cdr(i: usize) -> Cdr {
    Cdr {
        call_id: format!("{i:08x}-call@edge.example.net"),
        leg: (i % 3 == 0) as u32,
        caller: format!("49301234{i:04}"),
        callee: "442071234567".into(),
        caller_sent: format!("49301234{i:04}"),
        callee_sent: "00442071234567".into(),
        source: "192.0.2.10:5060".into(),
        group: (i % 2 == 0).then(|| "wholesale-a".to_owned()),
        attempts: vec![
            Attempt {
                gateway: "gw-lon-1".into(),
                dest: "198.51.100.7:5060".into(),
                start_ms: 1_700_000_000_000 + i as i64,
                code: 503,
                pdd_ms: None,
            },
            Attempt {
                gateway: "gw-lon-2".into(),
                dest: "198.51.100.8:5060".into(),
                start_ms: 1_700_000_000_050 + i as i64,
                code: 200,
                pdd_ms: Some(850),
            },
        ],
        setup_ms: 1_700_000_000_000 + i as i64,
        answer_ms: Some(1_700_000_002_000 + i as i64),
        end_ms: 1_700_000_062_000 + i as i64,
        duration_ms: 60_000,
        hangup: Hangup::Callee,
        cause: "normal".into(),
        sip_code: 200,
    }
}

#[test]
fn thousand_records_rotated_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdr");
    let rotate_bytes = 32 << 10;
    let writer = CdrWriter::start(&CdrConfig {
        path: Some(path.clone()),
        rotate_bytes,
        batch: 64,
        flush_ms: 10,
        ..CdrConfig::default()
    })
    .unwrap();
    let sender = writer.sender();
    let sent: Vec<Cdr> = (0..1000).map(cdr).collect();
    for (i, c) in sent.iter().enumerate() {
        assert!(sender.send(c.clone()));
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    writer.shutdown();
    let counts = sender.counts();
    assert_eq!(
        (counts.written_files, counts.dropped, counts.failed),
        (1000, 0, 0)
    );

    let mut names: Vec<String> = fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // ~410 bytes a line: ~13 files of at most 32 KiB, all closed.
    assert!(names.len() >= 10, "{names:?}");
    let mut seen = HashMap::new();
    for name in &names {
        assert!(
            name.starts_with("cdr-") && name.ends_with(".jsonl") && name.len() == 33,
            "{name}"
        );
        let file = path.join(name);
        assert!(fs::metadata(&file).unwrap().len() <= rotate_bytes);
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            let c: Cdr = serde_json::from_str(line).unwrap();
            let i = usize::from_str_radix(&c.call_id[..8], 16).unwrap();
            assert_eq!(c, sent[i]);
            *seen.entry(c.call_id).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 1000);
    assert!(seen.values().all(|&n| n == 1));
}
