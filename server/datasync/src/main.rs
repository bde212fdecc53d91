//! `datasync`: validate a configuration, dry-run syncs, run the demo, benchmark rendering.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = datasync::dryrun::main_with_args(&args, &mut std::io::stdout());
    std::process::exit(code);
}
