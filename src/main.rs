use std::process::ExitCode;

fn main() -> ExitCode {
    ao_core::memory::configure_allocator();
    match audiobook_organizer::cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
