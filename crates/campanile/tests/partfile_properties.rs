//! Property tests of the part files made for a bucket (`campanile::partfile`): on
//! random key sets (unicode, `/`-heavy, flat hex, keys that are prefixes of others,
//! keys that sort before `0` and after `f`) the generated lines cover every key exactly
//! once and list exactly their keys; overlaps are decided exactly; the check names
//! every key no line lists; and on a skewed bucket of 1 M keys no line holds more than
//! twice the target.

use std::collections::BTreeSet;

use campanile::partfile::check::{NumberedLine, gaps, overlaps};
use campanile::partfile::generate::{GenerateOptions, generate};
use campanile::partfile::{MemoryLister, PartLine, list_line};
use proptest::prelude::*;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// One key of any of the awkward shapes.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zé日本😀/\\-_. ]{1,12}",
        "[ab/]{1,10}",
        "[0-9a-f]{6}",
        "[!\u{1} ~ÿ\u{10FFFF}0f]{1,4}",
        "logs/2026/[0-9]{2}/[0-9a-f]{4}",
    ]
}

/// A key set with some keys' prefixes added.
fn keys() -> impl Strategy<Value = BTreeSet<String>> {
    proptest::collection::vec((key(), 0usize..4), 0..1500).prop_map(|entries| {
        let mut keys = BTreeSet::new();
        for (key, cut) in entries {
            let chars: Vec<char> = key.chars().collect();
            if cut > 0 && cut < chars.len() {
                keys.insert(chars[..cut].iter().collect::<String>());
            }
            keys.insert(key);
        }
        keys
    })
}

/// A part-file line over a small alphabet (so that lines meet often).
fn small_line() -> impl Strategy<Value = PartLine> {
    let text = "[ab/]{0,3}";
    prop_oneof![
        (prop_oneof![Just(""), Just("/"), Just("b")], text).prop_map(|(d, p)| {
            PartLine::Prefix {
                delimiter: d.to_string(),
                prefix: p,
            }
        }),
        (text, proptest::option::of(text)).prop_filter_map("start < end", |(s, e)| {
            match e {
                Some(e) if e <= s => None,
                e => Some(PartLine::Range { start: s, end: e }),
            }
        }),
    ]
}

fn numbered(lines: &[PartLine]) -> Vec<NumberedLine> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| NumberedLine {
            number: i as u64 + 1,
            text: line.to_line(),
            line: line.clone(),
        })
        .collect()
}

/// Every key of length 1 to 3 over the small alphabet and the witnesses' characters.
fn small_keys() -> Vec<String> {
    let alphabet = ['\0', '\u{1}', '\u{2}', '0', '/', 'a', 'b', 'c'];
    let mut keys = Vec::new();
    for a in alphabet {
        keys.push(a.to_string());
        for b in alphabet {
            keys.push(format!("{a}{b}"));
            for c in alphabet {
                keys.push(format!("{a}{b}{c}"));
            }
        }
    }
    keys
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_lines_cover_every_key_exactly_once(keys in keys(), target in 1u64..400) {
        let lister = MemoryLister::new(keys.clone());
        let options = GenerateOptions { target_keys: target, ..Default::default() };
        let generated = block_on(generate(&lister, &options)).expect("generate");
        for key in &keys {
            let holders = generated.lines.iter().filter(|l| l.contains(key)).count();
            prop_assert_eq!(holders, 1, "{:?}", key);
        }
        // Listed the way bucketlist lists them, the lines give every key once, in order.
        let mut listed = Vec::new();
        for line in &generated.lines {
            let text = line.to_line();
            prop_assert_eq!(PartLine::parse(&text), Ok(Some(line.clone())));
            listed.extend(block_on(list_line(&lister, line, usize::MAX)).expect("list"));
        }
        prop_assert_eq!(listed, keys.iter().cloned().collect::<Vec<_>>());
        if generated.exact {
            let max = generated.estimates.iter().cloned().fold(0.0, f64::max);
            prop_assert!(max <= target as f64, "{} > {}", max, target);
        }
    }

    #[test]
    fn any_line_lists_exactly_the_keys_it_contains(keys in keys(), line in small_line()) {
        let lister = MemoryLister::new(keys.clone());
        let listed = block_on(list_line(&lister, &line, usize::MAX)).expect("list");
        let expected: Vec<String> = keys.iter().filter(|k| line.contains(k)).cloned().collect();
        prop_assert_eq!(listed, expected);
    }

    #[test]
    fn overlaps_are_exact(a in small_line(), b in small_line()) {
        match a.overlap(&b) {
            Some(witness) => {
                prop_assert!(!witness.is_empty());
                prop_assert!(a.contains(&witness) && b.contains(&witness), "{:?}", witness);
            }
            None => {
                for key in small_keys() {
                    prop_assert!(!(a.contains(&key) && b.contains(&key)), "{:?} in both", key);
                }
            }
        }
        prop_assert_eq!(a.overlap(&b).is_some(), b.overlap(&a).is_some());
    }

    #[test]
    fn the_check_names_every_key_no_line_lists(
        keys in proptest::collection::btree_set("[ab/]{1,4}", 0..60),
        lines in proptest::collection::vec(small_line(), 0..6),
    ) {
        let lister = MemoryLister::new(keys.clone());
        let lines = numbered(&lines);
        let found = block_on(gaps(&lister, &lines)).expect("gaps");
        for key in &keys {
            let listed = lines.iter().any(|l| l.line.contains(key));
            let in_gap = found.iter().any(|g| g.range.contains(key));
            prop_assert_eq!(listed, !in_gap, "{:?}", key);
        }
        for gap in &found {
            prop_assert!(gap.keys >= 1 && gap.range.contains(&gap.first_key));
        }
        // Overlaps: every pair the check names shares its key; every pair it does not
        // name shares none.
        let named = overlaps(&lines, usize::MAX);
        for (i, a) in lines.iter().enumerate() {
            for b in &lines[i + 1..] {
                let pair = named.iter().find(|o| o.first.number == a.number && o.second.number == b.number);
                prop_assert_eq!(pair.is_some(), a.line.overlap(&b.line).is_some());
            }
        }
    }
}

/// A skewed bucket of 1 M keys: a dense log directory, flat hex keys, UUID-like keys,
/// sequential numbers, a sparse unicode directory and a few keys before `0` and after
/// `f`.
fn skewed_bucket() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500_000 {
        keys.insert(format!("logs/2026/11/30/{:012x}.json", next() >> 16));
    }
    for _ in 0..200_000 {
        keys.insert(format!("{:016x}", next()));
    }
    for _ in 0..100_000 {
        let a = next();
        keys.insert(format!(
            "uploads/{:08x}-{:04x}-4{:03x}-{:04x}",
            a >> 32,
            a & 0xffff,
            (a >> 16) & 0xfff,
            next() & 0xffff
        ));
    }
    for i in 0..150_000 {
        keys.insert(format!("z/{i:09}"));
    }
    for i in 0..40_000 {
        keys.insert(format!("日本/写真/{}/{i}", i % 97));
    }
    for i in 0..10_000 {
        keys.insert(format!("!{i}"));
        keys.insert(format!("\u{10FFFF}{i}"));
    }
    keys
}

#[test]
fn on_a_skewed_bucket_of_a_million_keys_no_line_holds_twice_the_target() {
    let keys = skewed_bucket();
    let total = keys.len();
    assert!(total > 990_000, "{total}");
    let target = 20_000u64;
    let lister = MemoryLister::new(keys.clone());
    let options = GenerateOptions {
        target_keys: target,
        ..Default::default()
    };
    let generated = block_on(generate(&lister, &options)).expect("generate");
    // The lines are contiguous ranges from the first key to the end: every key in one.
    let starts: Vec<&str> = generated
        .lines
        .iter()
        .map(|line| match line {
            PartLine::Range { start, .. } => start.as_str(),
            PartLine::Prefix { .. } => panic!("only ranges are generated"),
        })
        .collect();
    assert_eq!(starts[0], "");
    for (i, line) in generated.lines.iter().enumerate() {
        let PartLine::Range { end, .. } = line else {
            unreachable!()
        };
        assert_eq!(end.as_deref(), starts.get(i + 1).copied(), "line {i}");
    }
    let mut counts = vec![0u64; starts.len()];
    for key in &keys {
        let line = starts.partition_point(|s| *s <= key.as_str()) - 1;
        assert!(generated.lines[line].contains(key));
        counts[line] += 1;
    }
    let largest = counts.iter().copied().max().unwrap_or(0);
    eprintln!(
        "{} keys, target {target}: {} lines, largest {largest}, smallest {}, {} requests \
         (a full listing: {})",
        total,
        counts.len(),
        counts.iter().copied().min().unwrap_or(0),
        generated.requests,
        total.div_ceil(1000)
    );
    assert!(largest <= 2 * target, "largest line {largest} keys");
    assert!(
        counts.len() as u64 >= total as u64 / target,
        "{} lines",
        counts.len()
    );
    // The default target, 100,000 keys a line.
    let generated = block_on(generate(&lister, &GenerateOptions::default())).expect("generate");
    let mut counts = vec![0u64; generated.lines.len()];
    for key in &keys {
        let line = generated
            .lines
            .iter()
            .position(|l| l.contains(key))
            .expect("a line");
        counts[line] += 1;
    }
    let largest = counts.iter().copied().max().unwrap_or(0);
    eprintln!(
        "target 100000: {} lines, largest {largest}, {} requests",
        counts.len(),
        generated.requests
    );
    assert!(largest <= 200_000, "largest line {largest} keys");
}
