//! `mutate TARGET ITERATIONS [SEED]`: runs a fuzz target on its corpus and on ITERATIONS
//! deterministic mutations of it, without libFuzzer (see the crate doc).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        let names: Vec<&str> = nertc_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("usage: mutate TARGET ITERATIONS [SEED]; targets: {}", names.join(", "));
        std::process::exit(2)
    };
    let (Some(target), Some(iterations)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok())) else { usage() };
    if !nertc_fuzz::TARGETS.iter().any(|(n, _)| n == target) {
        usage();
    }
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let started = std::time::Instant::now();
    let n = nertc_fuzz::run(target, iterations, seed);
    let secs = started.elapsed().as_secs_f64();
    println!("{target}: {n} executions in {secs:.1} s ({:.0}/s), seed {seed}, no crash", n as f64 / secs);
}
