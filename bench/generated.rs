//! `cargo bench --bench generated -- [COUNT] [FIRST_SEED]`: the generator of
//! `tests/generated.rs` on many programs (100,000 by default), in release
//! mode. Prints how many the checker refused, how many ran, how many
//! stopped on their data (by class), and every program that broke the
//! promise (a panic, or a run error the checker could have known).

#[path = "../tests/generated.rs"]
#[allow(dead_code)]
mod generated;

use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let count: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let first: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("pipe-generated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    // Panics are caught and counted; their default message would flood.
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    let chunk = 1000;
    let mut totals = generated::Tally::default();
    let mut broken = Vec::new();
    let mut done = 0;
    while done < count {
        let n = chunk.min(count - done);
        let (tally, found) = generated::sweep(first + done, n, &dir, &root.join("data"));
        totals.refused += tally.refused;
        for (code, k) in tally.refusals {
            *totals.refusals.entry(code).or_default() += k;
        }
        totals.ran += tally.ran;
        totals.data_errors += tally.data_errors;
        totals.broken += tally.broken;
        for (class, k) in tally.data_classes {
            *totals.data_classes.entry(class).or_default() += k;
        }
        broken.extend(found);
        done += n;
        eprintln!("{done} programs, {:.0} s", start.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("programs: {count} (seeds {first}..{})", first + count);
    println!("refused by pipe check: {}", totals.refused);
    for (code, k) in &totals.refusals {
        println!("    {k:>7}  {code}");
    }
    println!("ran to the end: {}", totals.ran);
    println!("stopped on their data: {}", totals.data_errors);
    for (class, k) in &totals.data_classes {
        println!("    {k:>7}  {class}");
    }
    println!("broke the promise: {}", totals.broken);
    for (seed, text, error) in broken.iter().take(20) {
        println!("--- seed {seed}: {error}\n{text}");
    }
    println!("seconds: {:.0}", start.elapsed().as_secs_f64());
}
