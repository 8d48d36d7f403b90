use std::process::ExitCode;

fn main() -> ExitCode {
    ao_core::memory::configure_allocator();
    // A server keeps many clients' sockets open, and organize a group of
    // library folders until they are durable.
    ao_core::limits::raise_open_files_limit();
    match audiobook_organizer::cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
