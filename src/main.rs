use std::process::ExitCode;

fn main() -> ExitCode {
    ao_core::memory::configure_allocator();
    // Organize holds a group's staged copies open until they are durable;
    // a server keeps many clients' sockets open.
    ao_core::limits::raise_open_files_limit();
    match audiobook_organizer::cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
